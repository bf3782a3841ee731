"""The ticket scenarios: a clean run, kill -9 of one part mid-stream, and restarts with re-sent submissions.

Each function starts its own ``ztc run`` (``system.ZtcRun``), drives it, waits
until it is quiet (``settle``), counts from Redis and the webhook
(``counting``) and returns a ``Result``; the run is stopped, and everything it
started killed, whatever happens.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from consumers.sla_engine import SlaBook
from schemas.events import now_in_district
from schemas.ticket import TicketRecord
from tests.chaos.counting import count_alerts, count_tickets, read_tickets, routing_entries
from tests.chaos.results import Result
from tests.chaos.settle import Watched, wait_settled
from tests.chaos.system import ZtcRun, new_data_dir
from tests.chaos.tickets import ticket_body
from tests.chaos.traffic import SubmitReport, Submitter
from tests.chaos.webhook import alert_receiver

log = logging.getLogger(__name__)

CHANNEL_KEY = "channel-api"
ALERT_PATH = frozenset({"monitor", "alerter"})
"""Killed only once alerts flow (half-way, and after the first delivery)."""


@dataclass(frozen=True)
class Load:
    """How big a suite run is (``make chaos``: the defaults; the short test: a few hundred)."""

    tickets: int = 20_000
    malformed: int = 10_000
    fuzz: int = 10_000
    rate: float = 150.0
    clients: int = 8
    fast_every: int = 10
    """every n-th ticket names a key enterprise: seconds-long SLA window, alerts within the scenario"""
    idle_s: float = 120.0
    settle_s: float = 5.0
    """once quiet, wait this much longer: anything doubled arrives now"""
    root: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "ztc-chaos")

    @property
    def accept_s(self) -> int:
        """The key enterprises' accept window: alerts start during the stream and end soon after it."""
        return int(min(60, max(6, self.tickets / self.rate / 2)))

    @property
    def cap_s(self) -> float:
        return max(600.0, 6 * self.tickets / self.rate)


@contextmanager
def running(name: str, load: Load, result: Result) -> Iterator[Watched]:
    """A started ``ztc run`` with its webhook; stopped (and its leftovers killed) on the way out.

    Any exception becomes ``result.error``; the data dir is deleted if the scenario passed."""
    started = time.monotonic()
    with alert_receiver() as receiver:
        run = ZtcRun(new_data_dir(load.root, name), receiver.url, load.accept_s)
        try:
            run.start()
            yield Watched(run, receiver, SlaBook(run.policy))
        except Exception as exc:
            log.exception("%s failed", name)
            result.error = _one_line(exc)
        finally:
            if not run.stop():
                result.notes.append("ztc run did not stop cleanly on SIGINT")
            result.seconds = time.monotonic() - started
            if result.failures():
                result.notes.append(f"data dir kept: {run.data_dir}")
            else:
                shutil.rmtree(run.data_dir, ignore_errors=True)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def submit(
    watched: Watched,
    load: Load,
    bodies: list[dict[str, object]],
    on_dispatch: Callable[[int], None] | None = None,
) -> SubmitReport:
    submitter = Submitter(watched.run.api_port, watched.run.keys[CHANNEL_KEY], load.rate, load.clients)
    return submitter.run(bodies, on_dispatch)


def _fast(bodies: list[dict[str, object]], acked: dict[str, str], load: Load) -> dict[str, str]:
    """The acknowledged key-enterprise submissions (seconds-long SLA tier): message id → ticket id."""
    chosen = [
        str(b["channel_message_id"])
        for i, b in enumerate(bodies)
        if load.fast_every and i % load.fast_every == 0
    ]
    return {m: acked[m] for m in chosen if m in acked}


def _fast_ids(bodies: list[dict[str, object]], acked: dict[str, str], load: Load) -> list[str]:
    return list(_fast(bodies, acked, load).values())


def _must_fire(fast: dict[str, str], records: dict[str, TicketRecord], run: ZtcRun) -> dict[str, datetime]:
    """When each seconds-tier ticket's accept ladder must be over: its accept deadline plus the rungs."""
    out: dict[str, datetime] = {}
    for message, ticket_id in fast.items():
        record = records.get(ticket_id)
        if record is None or record.submission.channel_message_id != message:
            continue  # lost: counted as such
        due = record.sla.accept_due_at if record.sla else record.routed_at + timedelta(seconds=run.accept_s)
        out[ticket_id] = due + timedelta(seconds=2 * run.rung_s)
    return out


def _count(
    watched: Watched,
    result: Result,
    acked: dict[str, str],
    fast: dict[str, str],
    extra: dict[str, str] | None = None,
) -> None:
    """Fill the ticket and alert figures of ``result`` from Redis and the webhook.

    ``extra``: more acknowledged messages (sentinels) that count for *lost* but not for *recorded*."""
    records = read_tickets(watched.run.redis(), watched.run.settings.redis_prefix)
    tickets = count_tickets({**acked, **(extra or {})}, records)
    result.recorded = count_tickets(acked, records).recorded
    result.lost, result.doubled = len(tickets.lost), len(tickets.doubled)
    if tickets.lost:
        result.notes.append(f"lost, e.g. {tickets.lost[:5]}")
    result.notes += tickets.doubled[:5]
    must_fire = _must_fire(fast, records, watched.run)
    alerts = count_alerts(records, watched.receiver.snapshot(), watched.book, now_in_district(), must_fire)
    result.alerts_expected, result.alerts_sent = alerts.expected, alerts.sent
    result.alerts_lost, result.alerts_doubled = alerts.lost, alerts.doubled
    result.notes += alerts.notes


def _statuses(report: SubmitReport, result: Result) -> None:
    refused = {s: n for s, n in report.statuses.items() if s not in ("200", "202")}
    if refused:
        result.notes.append(f"intake answers other than 200/202 (retries included): {refused}")
    unanswered = [o for o in report.outcomes if not o.acknowledged]
    if unanswered:
        example = unanswered[0]
        result.notes.append(
            f"{len(unanswered)} submissions never acknowledged after retries, "
            f"e.g. {example.message_id}: {example.status} {example.error}"
        )


def tickets_scenario(name: str, target: str | None, load: Load) -> Result:
    """Submit ``load.tickets`` at a steady rate; kill -9 ``target`` half-way (None: no fault)."""
    result = Result(name, "kill" if target else "baseline")
    tag = f"{name}-{int(time.time())}"
    bodies: list[dict[str, object]] = [ticket_body(tag, i, load.fast_every) for i in range(load.tickets)]
    with running(name, load, result) as watched:
        run = watched.run
        killed: list[str] = []

        def kill() -> None:
            assert target is not None
            deadline = time.monotonic() + 120
            while target in ALERT_PATH and watched.receiver.count() == 0 and time.monotonic() < deadline:
                time.sleep(0.2)  # the alert path dies while alerts flow
            delivered = watched.receiver.count()
            killed.append(f"{target} (pid {run.kill(target)}) when {delivered} alerts had been delivered")

        killer = threading.Thread(target=kill, daemon=True)

        def fault(index: int) -> None:
            if target is not None and index == len(bodies) // 2:
                killer.start()

        report = submit(watched, load, bodies, fault)
        acked = report.acknowledged
        result.submitted, result.acknowledged = len(bodies), len(acked)
        _statuses(report, result)
        if target is not None:
            killer.join(timeout=150)
            if not killed:
                raise RuntimeError(f"the kill of {target} did not happen")
            result.notes.append(f"killed {killed[0]}")
        ended = wait_settled(
            watched,
            list(acked.values()),
            _fast_ids(bodies, acked, load),
            load.idle_s,
            load.cap_s,
            load.settle_s,
        )
        if ended != "settled":
            result.notes.append(f"wait ended: {ended}")
        _count(watched, result, acked, _fast(bodies, acked, load))
        unplanned = [line for line in run.exit_lines() if target is None or not line.startswith(f"{target} ")]
        result.worker_restarts = len(unplanned)
        result.notes += [f"ztc run: {line}" for line in run.exit_lines()[:5]]
        result.notes += [f"ztc run: {line.strip()}" for line in run.output_lines() if "已恢复" in line][:3]
    return result


def restart_scenario(load: Load, rounds: int = 2) -> Result:
    """Submit, stop ``ztc run`` with SIGINT, start it again on the same data dir, re-send the same
    submissions (and a few new sentinels); twice. Nothing may be routed again."""
    name = "restart-resend"
    result = Result(name, "restart")
    tag = f"{name}-{int(time.time())}"
    bodies: list[dict[str, object]] = [ticket_body(tag, i, load.fast_every) for i in range(load.tickets)]
    with running(name, load, result) as watched:
        run = watched.run
        first = submit(watched, load, bodies)
        acked = dict(first.acknowledged)
        result.submitted, result.acknowledged = len(bodies), len(acked)
        _statuses(first, result)
        fast = _fast_ids(bodies, acked, load)
        ended = wait_settled(
            watched, list(acked.values()), fast, load.idle_s, load.cap_s, load.settle_s, alerts=False
        )
        if ended != "settled":
            result.notes.append(f"first pass: wait ended: {ended}")
        before = read_tickets(run.redis(), run.settings.redis_prefix)
        routed_before = routing_entries(before)
        sentinels: dict[str, str] = {}
        for round_ in range(1, rounds + 1):
            if not run.stop():
                result.notes.append(f"restart {round_}: ztc run did not stop cleanly on SIGINT")
            run.start()
            again = submit(watched, load, bodies)
            moved = {m: t for m, t in again.acknowledged.items() if m in acked and acked[m] != t}
            if moved:
                result.notes.append(
                    f"restart {round_}: {len(moved)} re-sends answered with another ticket id"
                )
            fresh = submit(watched, load, [ticket_body(f"{tag}-s{round_}", i, 0) for i in range(5)])
            sentinels |= fresh.acknowledged
            acked |= {m: t for m, t in again.acknowledged.items() if m not in acked}
            ids = sorted(set(acked.values()) | set(sentinels.values()))
            ended = wait_settled(watched, ids, fast, load.idle_s, load.cap_s, load.settle_s)
            if ended != "settled":
                result.notes.append(f"restart {round_}: wait ended: {ended}")
        after = read_tickets(run.redis(), run.settings.redis_prefix)
        told = set(acked.values()) | set(sentinels.values())
        new = sorted(set(after) - set(before) - told)  # tickets no submission was answered with
        again_routed = sorted(t for t, n in routing_entries(after).items() if n > routed_before.get(t, n))
        result.rerouted = len(new) + len(again_routed)
        if new:
            result.notes.append(f"{len(new)} tickets no submission was answered with, e.g. {new[:3]}")
        if again_routed:
            result.notes.append(f"{len(again_routed)} tickets routed again, e.g. {again_routed[:3]}")
        _count(watched, result, acked, _fast(bodies, acked, load), sentinels)
        result.worker_restarts = len(run.exit_lines())
        result.notes += [f"ztc run: {line}" for line in run.exit_lines()[:5]]
    return result
