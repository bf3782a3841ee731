"""The alerter: every SLA event the recorder applied, from the Redis alert outbox to every sink, once.

The recorder adds each SLA event it applies to the stream ``{prefix}alerts:outbox``
in the same MULTI as the ticket update (a transactional outbox), so an alert
survives a broker that forgets everything. Alerters read the stream in the
consumer group ``{group_prefix}-alerter`` (several may run). Each batch goes
to every sink in parallel, one thread per sink; the next batch is read only
when every sink is done with this one, so a slow sink slows reading and
nothing queues without bound. An entry is acknowledged and deleted (XACK +
XDEL) once every sink has delivered or parked it (see ``consumers.alerts``).
Entries an alerter left behind when it died are taken over with XAUTOCLAIM
after ``claim_idle_s``; the delivery ledger keeps them from being sent twice.
An entry that cannot be decoded goes to ``dead_letter`` and is acknowledged.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import redis
from pydantic import ValidationError
from redis.typing import StreamIdT

from consumers.alerts import (
    AlertSink,
    Courier,
    DeliveryLedger,
    Describe,
    Interrupted,
    LogSink,
    ParkedAlerts,
    RedisPubSubSink,
    RetryPolicy,
    WebhookSink,
    webhook_platform,
)
from consumers.metrics import DEAD_LETTERS
from schemas.dead_letters import describe_validation_error
from schemas.hotspot_events import ALERT_EVENT_ADAPTER, AlertEvent
from schemas.outbox import alert_outbox_key
from schemas.settings import Settings, SettingsError

log = logging.getLogger(__name__)

DeadLetter = Callable[[bytes, str], None]
"""Report an entry that cannot be decoded: its raw bytes and the reason."""

RawEntry = tuple[Any, Any]
"""(entry id, fields) as redis-py returns them; fields may be empty for a deleted entry."""


def outbox_key(prefix: str) -> str:
    """The stream the recorder adds every applied SLA event to: ``XADD key * event <json>``."""
    return alert_outbox_key(prefix)


def alerter_group(settings: Settings) -> str:
    return f"{settings.group_prefix}-alerter"


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def sinks_from(settings: Settings, client: redis.Redis, describe: Describe | None = None) -> list[AlertSink]:
    """The sinks named in ``ZTC_ALERT_SINKS``; a webhook without its URL is a settings error.

    ``describe``: the alert as people read it (the policy's templates over the ticket); without it the
    sinks say only ids."""
    sinks: list[AlertSink] = []
    for name in (n.strip() for n in settings.alert_sinks.split(",") if n.strip()):
        if name == "log":
            sinks.append(LogSink(describe))
        elif name == "webhook":
            if not settings.alert_webhook_url:
                raise SettingsError(
                    "ZTC_ALERT_WEBHOOK_URL: 使用 webhook 时必填 required when ZTC_ALERT_SINKS names webhook"
                )
            url = settings.alert_webhook_url
            platform = webhook_platform(url, settings.alert_webhook_format)
            secret = settings.alert_webhook_secret
            sinks.append(WebhookSink(url, platform=platform, describe=describe, secret=secret))
        elif name == "redis":
            sinks.append(RedisPubSubSink(client, settings.alert_channel, describe))
        else:
            raise SettingsError(f"ZTC_ALERT_SINKS: 未知告警渠道 unknown sink {name!r} (log, webhook, redis)")
    return sinks


class Undecodable(ValueError):
    """An outbox entry that is not an SLA event; ``raw`` is what it held."""

    def __init__(self, raw: bytes, problem: str) -> None:
        super().__init__(problem)
        self.raw = raw


def decode_entry(fields: Mapping[Any, Any]) -> AlertEvent:
    """The SLA event in an outbox entry's ``event`` field, or Undecodable."""
    raw = fields.get(b"event", fields.get("event"))
    if raw is None:
        every = {_text(k): _text(v) for k, v in fields.items()}
        raise Undecodable(json.dumps(every, ensure_ascii=False).encode(), "no 'event' field")
    try:
        return ALERT_EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise Undecodable(_bytes(raw), describe_validation_error(exc)) from None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


class Alerter:
    """One alerter process's view of the outbox; ``run_once`` is one read–deliver–acknowledge step."""

    def __init__(
        self,
        client: redis.Redis,
        sinks: Sequence[AlertSink],
        dead_letter: DeadLetter,
        *,
        prefix: str = "ztc:",
        group: str = "ztc-alerter",
        consumer: str | None = None,
        stop: threading.Event | None = None,
        policy: RetryPolicy | None = None,
        batch: int = 16,
        block_ms: int = 500,
        claim_idle_s: float = 30.0,
        claim_every_s: float = 5.0,
        sweep_every_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.dead_letter = dead_letter
        self.stream = outbox_key(prefix)
        self.group = group
        self.consumer = consumer or consumer_name()
        self.stop = stop or threading.Event()
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_s = claim_idle_s
        self.claim_every_s = claim_every_s
        self.sweep_every_s = sweep_every_s
        self.heartbeat_s = max(0.5, claim_idle_s / 3)
        self.clock = clock
        self.ledger = DeliveryLedger(client, prefix)
        self.parked = ParkedAlerts(client, prefix)
        self.couriers = [
            Courier(sink, self.ledger, self.parked, self.consumer, self.stop, policy, clock) for sink in sinks
        ]
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.couriers)), thread_name_prefix="alert")
        self._group_ready = False
        self._backlog_from: str | None = "0"
        """reading this consumer's own unacknowledged entries (after a restart or a failed step) from here"""
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        self._next_sweep = 0.0

    # ------------------------------------------------------------ the loop

    def run(self) -> None:
        """Step until ``stop`` is set; a failing step (Redis away) is logged and retried with backoff."""
        delay = 0.5
        while not self.stop.is_set():
            try:
                self.run_once()
                delay = 0.5
            except Exception as exc:
                self._look_back()
                log.warning("alerter step failed (again in %.1fs): %s", delay, exc, exc_info=True)
                self.stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def run_once(self) -> int:
        """Read one batch, deliver it to every sink, acknowledge what is done; returns how many."""
        self.ensure_group()
        try:
            entries = self._read()
            events, finished = self._decode(entries)
            self._acknowledge(finished)
            delivered = self._deliver(events)
            self._acknowledge(delivered)
        except BaseException as exc:
            self._look_back()
            if isinstance(exc, redis.ResponseError) and "NOGROUP" in str(exc):
                self._group_ready = False  # the stream was deleted: create the group again
            raise
        if len(delivered) < len(events):
            self._look_back()
        return len(finished) + len(delivered)

    def ensure_group(self) -> None:
        """The consumer group, created with the stream if missing, reading from the start."""
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def close(self) -> None:
        self.stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------ reading

    def _look_back(self) -> None:
        """Go over this consumer's unacknowledged entries once more (one pass, not a loop)."""
        if self._backlog_from is None:
            self._backlog_from = "0"

    def _read(self) -> list[RawEntry]:
        if self._backlog_from is not None:
            mine = self._xreadgroup(self._backlog_from, None)
            if mine:
                self._backlog_from = _text(mine[-1][0])
                return mine
            self._backlog_from = None
        now = self.clock()
        if now >= self._next_claim:
            taken = self._take_over(now)
            if taken:
                return taken
        return self._xreadgroup(">", self.block_ms)

    def _xreadgroup(self, start: str, block_ms: int | None) -> list[RawEntry]:
        response = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=self.batch, block=block_ms
        )
        streams: Iterable[Any] = response.items() if isinstance(response, dict) else (response or [])
        return [(entry[0], entry[1]) for _, entries in streams for entry in entries]

    def _take_over(self, now: float) -> list[RawEntry]:
        """Entries other alerters left idle for ``claim_idle_s`` (they died), now this consumer's."""
        self._next_claim = now + self.claim_every_s
        answer = self.client.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            int(self.claim_idle_s * 1000),
            start_id=self._claim_cursor,
            count=self.batch,
        )
        self._claim_cursor = _text(answer[0])
        if self._claim_cursor != "0-0":
            self._next_claim = now  # more to look at
        entries = [(i, f) for i, f in answer[1] if i is not None]
        if entries:
            log.info("alerter %s took over %d unacknowledged alert(s)", self.consumer, len(entries))
        return entries

    def _decode(self, entries: list[RawEntry]) -> tuple[list[tuple[str, AlertEvent]], list[str]]:
        """Events to deliver, and ids that are finished already (deleted or dead-lettered)."""
        events: list[tuple[str, AlertEvent]] = []
        finished: list[str] = []
        for raw_id, fields in entries:
            entry_id = _text(raw_id)
            if not fields:
                log.warning("alert outbox entry %s has no data (deleted); acknowledging it", entry_id)
                finished.append(entry_id)
                continue
            try:
                events.append((entry_id, decode_entry(fields)))
            except Undecodable as exc:
                if self._dead_letter(entry_id, exc):
                    finished.append(entry_id)
        return events, finished

    def _dead_letter(self, entry_id: str, exc: Undecodable) -> bool:
        reason = f"alert outbox entry {entry_id}: not an SLA event: {exc}"[:1000]
        try:
            self.dead_letter(exc.raw, reason)
        except Exception:  # stays pending; taken over again after claim_idle_s
            log.exception("could not dead-letter alert outbox entry %s", entry_id)
            return False
        DEAD_LETTERS.labels(stage="alerter").inc()
        log.error("%s (dead-lettered)", reason)
        return True

    # ------------------------------------------------------------ delivering

    def _deliver(self, events: list[tuple[str, AlertEvent]]) -> list[str]:
        """Every sink in its own thread, the whole batch; the ids every sink delivered or parked."""
        now = self.clock()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + self.sweep_every_s
        ids = [entry_id for entry_id, _ in events]
        if not self.couriers or (not events and not sweep):
            return ids
        futures: list[Future[set[str]]] = [
            self._pool.submit(self._sink_step, courier, events, sweep) for courier in self.couriers
        ]
        while wait(futures, timeout=self.heartbeat_s).not_done:
            self._heartbeat(ids)
        finished = set(ids)
        for future in futures:
            finished &= future.result()  # a sink that died (BaseException) ends the step here
        return [entry_id for entry_id in ids if entry_id in finished]

    def _sink_step(self, courier: Courier, events: list[tuple[str, AlertEvent]], sweep: bool) -> set[str]:
        if sweep:
            try:
                courier.retry_parked()
            except Interrupted:
                return set()
            except Exception:
                log.exception("alert sink %s: could not retry parked alerts", courier.name)
        done: set[str] = set()
        try:
            for entry_id, event in events:
                courier.deliver(event)
                done.add(entry_id)
        except Interrupted:
            pass
        except Exception:  # Redis away mid-delivery: the rest stays pending and comes back
            log.exception("alert sink %s: delivery step failed", courier.name)
        return done

    def _heartbeat(self, ids: list[str]) -> None:
        """Reset the idle time of entries still being delivered, so nobody takes them over meanwhile."""
        if not ids:
            return
        claimed: list[StreamIdT] = list(ids)
        try:
            self.client.xclaim(self.stream, self.group, self.consumer, 0, claimed, justid=True)
        except redis.RedisError as exc:
            log.warning("could not refresh the claim on %d alert(s): %s", len(ids), exc)

    def _acknowledge(self, ids: list[str]) -> None:
        if not ids:
            return
        with self.client.pipeline() as pipe:
            pipe.xack(self.stream, self.group, *ids)
            pipe.xdel(self.stream, *ids)
            pipe.execute()


def run_alerter(
    settings: Settings,
    sinks: list[AlertSink],
    stop: threading.Event,
    client: redis.Redis,
    dead_letter: DeadLetter,
) -> None:
    """Deliver the alert outbox to ``sinks`` until ``stop`` is set."""
    alerter = Alerter(
        client, sinks, dead_letter, prefix=settings.redis_prefix, group=alerter_group(settings), stop=stop
    )
    log.info(
        "alerter %s reading %s (group %s), sending to %s",
        alerter.consumer, alerter.stream, alerter.group, ", ".join(s.name for s in sinks) or "no sink",
    )  # fmt: skip
    try:
        alerter.run()
    finally:
        alerter.close()
