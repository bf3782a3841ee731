"""One short case of each kind of the fault suite (``make chaos`` runs them at full size).

A kill -9 of the broker mid-stream, two restarts with every submission re-sent,
malformed messages on every input topic, fuzzed HTTP requests: each against its
own real ``ztc run``, each asserting the figures that must be zero.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.inputs import fuzz_scenario, malformed_scenario
from tests.chaos.results import Result, table
from tests.chaos.scenarios import Load, restart_scenario, tickets_scenario

pytestmark = pytest.mark.integration

CASES: dict[str, Callable[[Load], Result]] = {
    "kill-broker": lambda load: tickets_scenario("kill-broker", "broker", load),
    "restart-resend": restart_scenario,
    "malformed": malformed_scenario,
    "fuzz-http": fuzz_scenario,
}


@pytest.mark.parametrize("name", list(CASES))
def test_short_chaos_case_keeps_every_must_be_zero_figure_at_zero(name: str, tmp_path: Path) -> None:
    load = Load(tickets=150, malformed=100, fuzz=300, rate=50.0, idle_s=15.0, settle_s=3.0, root=tmp_path)
    result = CASES[name](load)
    print(table([result]))
    assert not result.failures(), table([result])
