"""Waiting for a run to go quiet: every acknowledged ticket recorded, every due alert recorded and delivered.

Cheap checks first (EXISTS on the acknowledged ids, the count of SLA alerts
scheduled in the next half hour), the expensive one (read the seconds-tier
tickets and match their alerts to deliveries) only once those hold. When
nothing changes for ``idle_s`` the wait gives up and the count shows what is
missing; ``cap_s`` bounds the whole wait.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

from consumers.sla_engine import SlaBook
from consumers.ticket_store import RedisTicketStore
from schemas.events import now_in_district
from schemas.ticket import TicketRecord
from schemas.ticket_storage import decode_record
from tests.chaos.counting import count_alerts
from tests.chaos.system import ZtcRun
from tests.chaos.webhook import AlertReceiver

log = logging.getLogger(__name__)

HORIZON_S = 1800.0
"""Alerts of the seconds-long tier fall within this; the calm tier's are hours away."""


@dataclass(frozen=True)
class Watched:
    run: ZtcRun
    receiver: AlertReceiver
    book: SlaBook


def _records(client: redis.Redis, prefix: str, ticket_ids: list[str]) -> dict[str, TicketRecord]:
    out: dict[str, TicketRecord] = {}
    for start in range(0, len(ticket_ids), 500):
        keys = [f"{prefix}ticket:{t}" for t in ticket_ids[start : start + 500]]
        for raw in client.mget(keys):
            if raw:
                record = decode_record(raw)
                out[record.ticket_id] = record
    return out


def _unrecorded(client: redis.Redis, prefix: str, ticket_ids: list[str]) -> list[str]:
    """The ids among ``ticket_ids`` with no ticket in Redis (EXISTS, pipelined)."""
    missing: list[str] = []
    for start in range(0, len(ticket_ids), 1000):
        chunk = ticket_ids[start : start + 1000]
        with client.pipeline(transaction=False) as pipe:
            for ticket_id in chunk:
                pipe.exists(f"{prefix}ticket:{ticket_id}")
            missing += [t for t, n in zip(chunk, pipe.execute(), strict=True) if not n]
    return missing


def _alerts_done(watched: Watched, client: redis.Redis, prefix: str, fast_ids: list[str]) -> bool:
    records = _records(client, prefix, fast_ids)
    counted = count_alerts(records, watched.receiver.snapshot(), watched.book, now_in_district())
    return counted.lost == 0


def wait_settled(
    watched: Watched,
    ticket_ids: list[str],
    fast_ids: list[str],
    idle_s: float,
    cap_s: float,
    settle_s: float = 5.0,
    alerts: bool = True,
) -> str:
    """Wait until quiet; say how it ended ("settled", "idle ...", "cap ...").

    ``alerts=False``: only until every ticket is recorded (alerts may still be on their way)."""
    client = watched.run.redis()
    prefix = watched.run.settings.redis_prefix
    due_key = RedisTicketStore(client, prefix).sla_due_key
    started = last_change = time.monotonic()
    last: tuple[object, ...] = ()
    unseen = list(ticket_ids)
    while True:
        now = time.monotonic()
        try:
            unseen = _unrecorded(client, prefix, unseen or ticket_ids)  # all again once none seemed missing
            recorded = len(ticket_ids) - len(unseen)
            pending = int(client.zcount(due_key, "-inf", time.time() + HORIZON_S)) if alerts else 0
            state: tuple[object, ...] = (recorded, pending, watched.receiver.count())
            done = (
                recorded == len(ticket_ids)
                and pending == 0
                and (not alerts or _alerts_done(watched, client, prefix, fast_ids))
            )
        except redis.RedisError as exc:
            state, done = (f"redis: {type(exc).__name__}",), False
        if done:
            time.sleep(settle_s)  # anything delivered twice arrives now
            log.info("settled after %.0fs", time.monotonic() - started)
            return "settled"
        if state != last:
            log.info("waiting: (recorded, alerts pending, alerts delivered) = %s", state)
            last, last_change = state, now
        elif now - last_change > idle_s:
            return f"idle: nothing changed for {idle_s:.0f}s (state {state})"
        if now - started > cap_s:
            return f"cap: still changing after {cap_s:.0f}s (state {state})"
        time.sleep(1.0)
