"""Issue 16's done-when test: 3 routers, 2 recorders, 2 monitors over 6 partitions, 20,000 tickets,
kill -9 of one router and one recorder mid-stream.

It ends with exactly 20,000 tickets recorded, no event applied twice in any
history and no SLA alert delivered twice (or lost), and prints how long the
killed workers' partitions stood still (the takeover). It takes a few minutes
(marked ``slow``: ``make test`` runs it; ``pytest -m "not slow"`` leaves it out);
the ticket count is the issue's and is not to be lowered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.results import table
from tests.chaos.scale_out import Takeover, scale_out_scenario
from tests.chaos.scenarios import Load

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TICKETS = 20_000


def test_workers_of_each_kind_share_the_work_and_take_over_a_killed_ones_partitions(tmp_path: Path) -> None:
    load = Load(tickets=TICKETS, rate=400.0, fast_every=50, idle_s=60.0, settle_s=3.0, root=tmp_path)
    takeover = Takeover()
    result = scale_out_scenario(load, takeover=takeover)
    print(table([result]))
    assert takeover.router_s is not None and takeover.recorder_s is not None, table([result])
    print(f"takeover after kill -9: routers {takeover.router_s:.1f} s, recorders {takeover.recorder_s:.1f} s")
    assert not result.failures(), table([result])
    assert result.recorded == TICKETS and result.doubled == 0 and result.alerts_doubled == 0
