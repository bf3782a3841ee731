"""Every scenario of the fault suite, by name, in the order ``make chaos`` runs them."""

from __future__ import annotations

from collections.abc import Callable

from tests.chaos.inputs import fuzz_scenario, malformed_scenario
from tests.chaos.results import Result
from tests.chaos.scale_out import scale_out_scenario
from tests.chaos.scenarios import Load, restart_scenario, tickets_scenario

Scenario = Callable[[Load], Result]
KILL_TARGETS = ("router", "recorder", "monitor", "alerter", "hotspots", "redis", "broker")


def _kill(target: str | None, name: str) -> Scenario:
    return lambda load: tickets_scenario(name, target, load)


SCENARIOS: dict[str, Scenario] = {
    "baseline": _kill(None, "baseline"),
    **{f"kill-{target}": _kill(target, f"kill-{target}") for target in KILL_TARGETS},
    "restart-resend": restart_scenario,
    "malformed": malformed_scenario,
    "fuzz-http": fuzz_scenario,
    "scale-out": scale_out_scenario,
}
