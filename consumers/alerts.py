"""Alert sinks for SLA events, and what makes every alert reach every sink once.

Sinks: the log, a group-robot webhook (the text-message format WeCom and
DingTalk robots accept: ``{"msgtype": "text", "text": {"content": "..."}}``)
and Redis pub/sub. Around them:

- ``DeliveryLedger``: per-sink markers in Redis, keyed by the SLA event's id,
  checked before a send and set right after it, so a redelivered or duplicated
  event is not sent again; plus a short lease, so two alerters never send the
  same event to the same sink at the same moment.
- ``ParkedAlerts``: alerts a sink kept refusing, kept durably per sink (a sorted
  set by next retry, a hash with the event and the last error) for operators
  to see and for the alerter to retry with backoff.
- ``Courier``: one sink's delivery policy — retry with exponential backoff
  (longer for a robot's rate limit), park once the sink has failed for about a
  minute; while it stays down, park new alerts at once and let one alert probe
  it now and then (backing off), until one goes through again.

Counters per sink (prometheus-client's default registry): ``ztc_alerts_delivered``,
``_retried``, ``_parked``, ``_duplicates_skipped`` and ``_in_doubt`` (``_total``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, cast, runtime_checkable

import redis
from prometheus_client import Counter

from consumers.alert_text import Platform, RenderedAlert, hotspot_line, robot_payload
from schemas.hotspot_events import ALERT_EVENT_ADAPTER, AlertEvent, HotSpotDetected
from schemas.robot_signatures import dingtalk_signed_url
from schemas.sla import SlaBreached, SlaEscalated, SlaWarning

log = logging.getLogger(__name__)

DELIVERED = Counter("ztc_alerts_delivered", "SLA alerts delivered, per sink", ["sink"])
RETRIED = Counter("ztc_alerts_retried", "Failed SLA alert attempts that will be retried, per sink", ["sink"])
PARKED = Counter("ztc_alerts_parked", "SLA alerts parked after a sink kept failing, per sink", ["sink"])
DUPLICATES = Counter(
    "ztc_alerts_duplicates_skipped", "SLA alerts not sent again: already delivered, per sink", ["sink"]
)
IN_DOUBT = Counter(
    "ztc_alerts_in_doubt",
    "SLA alerts sent again after an alerter died mid-send (possibly delivered twice), per sink",
    ["sink"],
)

MARKER_TTL_S = 30 * 24 * 3600
"""Delivery markers (and leases left by a crash) expire after 30 days."""

RATE_LIMIT_ERRCODES = frozenset({45009, 45011, 45033, 130101, 410100})
"""Robot answers meaning "too many messages": WeCom 45009/45011/45033, DingTalk 130101/410100."""

MAX_ANSWER_BYTES = 64 * 1024


# ---------------------------------------------------------------- text


def alert_text(event: AlertEvent) -> str:
    """One readable Chinese line for people in a group chat."""
    if isinstance(event, HotSpotDetected):
        return hotspot_line(event)
    due = event.due_at.strftime("%m-%d %H:%M")
    stage = event.stage.label
    if isinstance(event, SlaWarning):
        return (
            f"【临期预警】工单 {event.ticket_id} {stage}时限 {due} 将到期，请 {event.department} 抓紧办理。"
        )
    if isinstance(event, SlaBreached):
        return f"【超期】工单 {event.ticket_id} {stage}已超过时限 {due}，承办部门 {event.department}。"
    if isinstance(event, SlaEscalated):
        who = event.department if event.notify == "department" else "区政府办公室"
        return (
            f"【{event.level_label}】工单 {event.ticket_id} {stage}超期（时限 {due}），"
            f"第 {event.level} 级：请 {who} 督促 {event.department} 办理。"
        )
    return f"工单 {event.ticket_id} {stage}时限事件"


def robot_message(event: AlertEvent) -> dict[str, object]:
    return {"msgtype": "text", "text": {"content": alert_text(event)}}


Describe = Callable[[AlertEvent], RenderedAlert]
"""An alert as people read it (``consumers.alert_text.AlertDescriber``: the policy's template, the ticket);
a sink without one falls back to ``alert_text``, the ids alone."""


def described_text(event: AlertEvent, describe: Describe | None) -> str:
    return describe(event).text("text") if describe is not None else alert_text(event)


def webhook_platform(url: str, chosen: str = "auto") -> Platform:
    """The robot a webhook URL belongs to: ``chosen`` unless auto, else by the host."""
    if chosen in ("text", "dingtalk", "wecom"):
        return cast(Platform, chosen)
    host = url.split("://", 1)[-1].split("/", 1)[0].lower()
    if host.endswith("dingtalk.com"):
        return "dingtalk"
    if host.endswith("qyapi.weixin.qq.com"):
        return "wecom"
    return "text"


# ---------------------------------------------------------------- sinks


class SinkFailed(Exception):
    """A sink refused an alert; ``rate_limited``: it asked us to slow down."""

    def __init__(self, message: str, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited


class AlertSink(Protocol):
    name: str

    def send(self, event: AlertEvent) -> None:
        """Deliver or raise; returning means the sink has the alert."""
        ...


@runtime_checkable
class MarkingSink(Protocol):
    """A sink that sends and sets the ledger's marker in one transaction: exactly once."""

    name: str

    def send_marked(self, event: AlertEvent, ledger: DeliveryLedger) -> bool:
        """True if sent now, False if the marker shows it was sent before."""
        ...


class LogSink:
    name = "log"

    def __init__(self, describe: Describe | None = None) -> None:
        self.describe = describe

    def send(self, event: AlertEvent) -> None:
        log.warning("SLA %s", described_text(event, self.describe).replace("\n", " / "))


def check_robot_answer(body: bytes) -> None:
    """Raise SinkFailed when a 2xx answer carries a non-zero ``errcode`` (WeCom/DingTalk refusals)."""
    try:
        answer = json.loads(body)
    except ValueError:
        return  # not a robot's JSON: a plain webhook, and 2xx is its yes
    if not isinstance(answer, dict) or answer.get("errcode") in (None, 0, "0"):
        return
    code, message = answer["errcode"], str(answer.get("errmsg", ""))
    try:
        rate_limited = int(code) in RATE_LIMIT_ERRCODES
    except (TypeError, ValueError):
        rate_limited = False
    log.warning("webhook refused the alert: errcode %s, errmsg %r", code, message)
    raise SinkFailed(f"robot errcode {code}: {message}", rate_limited=rate_limited)


class WebhookSink:
    """POST a robot text message; HTTP 2xx with ``errcode`` 0 (or no errcode) is delivered.

    The in-doubt window: between the robot's answer and the delivery marker
    there is no transaction to share, so an alerter killed in that instant
    (SIGKILL, power loss) leaves an alert that was posted but not marked, and
    the alerter that takes the entry over posts it again. ZTC narrows the
    window and makes it visible rather than risk losing an alert:

    - the marker is written immediately after the answer, before logging or
      metrics; if Redis fails right then, the courier remembers the event as
      sent and only retries the marker, never the post;
    - a stop request (SIGTERM) is honoured only between alerts, never between
      a post and its marker;
    - before each post the courier takes a lease in Redis; a takeover that
      finds an expired lease without a marker knows the post is in doubt, logs
      it and counts it in ``ztc_alerts_in_doubt`` before posting again.

    A request that times out is in doubt the same way (the robot may have
    posted it) and is retried: at least once, by design, for a time-limit alert.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        timeout_s: float = 5.0,
        *,
        platform: Platform = "text",
        describe: Describe | None = None,
        secret: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``platform``: the message format (DingTalk / WeCom markdown, or text); ``secret``: DingTalk's
        加签 secret, each post's URL then carries ``timestamp`` and ``sign`` computed at ``clock()``."""
        self.url = url
        self.timeout_s = timeout_s
        self.platform = platform
        self.describe = describe
        self.secret = secret
        self.clock = clock

    def payload(self, event: AlertEvent) -> dict[str, object]:
        if self.describe is None:
            return robot_message(event)
        return robot_payload(self.describe(event), self.platform)

    def send(self, event: AlertEvent) -> None:
        body = json.dumps(self.payload(event), ensure_ascii=False).encode()
        url = dingtalk_signed_url(self.url, self.secret, self.clock()) if self.secret else self.url
        request = urllib.request.Request(
            url,
            data=body,
            # the event id lets a receiver that can (not WeCom or DingTalk) drop a repeat itself
            headers={"Content-Type": "application/json", "X-ZTC-Event-Id": event.event_id},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status = int(response.status)
                answer = response.read(MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as exc:
            raise SinkFailed(f"webhook answered HTTP {exc.code}", rate_limited=exc.code == 429) from exc
        if not 200 <= status < 300:
            raise SinkFailed(f"webhook answered HTTP {status}")
        check_robot_answer(answer)


class RedisPubSubSink:
    """PUBLISH ``{"event": ..., "text": ...}``; with the ledger, exactly once (same Redis, one MULTI)."""

    name = "redis"

    def __init__(self, client: redis.Redis, channel: str, describe: Describe | None = None) -> None:
        self.client = client
        self.channel = channel
        self.describe = describe

    def payload(self, event: AlertEvent) -> str:
        text = described_text(event, self.describe)
        return json.dumps({"event": event.model_dump(mode="json"), "text": text}, ensure_ascii=False)

    def send(self, event: AlertEvent) -> None:
        self.client.publish(self.channel, self.payload(event))

    def send_marked(self, event: AlertEvent, ledger: DeliveryLedger) -> bool:
        marker = ledger.sent_key(self.name, event.event_id)
        with self.client.pipeline() as pipe:
            try:
                pipe.watch(marker)  # type: ignore[no-untyped-call]
                if pipe.exists(marker):
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.publish(self.channel, self.payload(event))
                ledger.mark_in(pipe, self.name, event.event_id)
                pipe.execute()
            except redis.WatchError:
                return False  # the marker appeared meanwhile: someone else sent it
        return True


# ---------------------------------------------------------------- the ledger


class Claim(StrEnum):
    sent = "sent"
    """already delivered to this sink: skip"""
    busy = "busy"
    """another alerter is sending it right now"""
    free = "free"
    stale = "stale"
    """a lease expired without a marker: an alerter died mid-send, the alert is in doubt"""


class Ledger(Protocol):
    """Who sent what: what the courier needs of ``DeliveryLedger`` (and its in-memory double)."""

    def claim(self, sink: str, event_id: str, owner: str, now: float, lease_s: float) -> Claim: ...
    def release(self, sink: str, event_id: str, owner: str) -> None: ...
    def mark(self, sink: str, event_id: str) -> None: ...
    def is_sent(self, sink: str, event_id: str) -> bool: ...


# KEYS: sent marker, lease; ARGV: now ms, lease deadline ms, owner, ttl s.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'sent' end
local held = redis.call('GET', KEYS[2])
local state = 'free'
if held then
  local sep = string.find(held, '|', 1, true)
  if sep and string.sub(held, sep + 1) ~= ARGV[3] then
    if tonumber(string.sub(held, 1, sep - 1)) > tonumber(ARGV[1]) then return 'busy' end
    state = 'stale'
  end
end
redis.call('SET', KEYS[2], ARGV[2] .. '|' .. ARGV[3], 'EX', ARGV[4])
return state
"""

# KEYS: lease; ARGV: owner. Drop the lease only if it is ours.
_RELEASE = """
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, (string.find(held, '|', 1, true) or 0) + 1) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class DeliveryLedger:
    """``{prefix}alerts:sent:{sink}:{event_id}`` once delivered; ``...:sending:...`` while being sent."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int = MARKER_TTL_S) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    def sent_key(self, sink: str, event_id: str) -> str:
        return f"{self.prefix}alerts:sent:{sink}:{event_id}"

    def lease_key(self, sink: str, event_id: str) -> str:
        return f"{self.prefix}alerts:sending:{sink}:{event_id}"

    def is_sent(self, sink: str, event_id: str) -> bool:
        return bool(self.client.exists(self.sent_key(sink, event_id)))

    def claim(self, sink: str, event_id: str, owner: str, now: float, lease_s: float) -> Claim:
        keys = [self.sent_key(sink, event_id), self.lease_key(sink, event_id)]
        deadline = int((now + lease_s) * 1000)
        state = self._claim(keys=keys, args=[int(now * 1000), deadline, owner, self.ttl_s])
        return Claim(_text(state))

    def release(self, sink: str, event_id: str, owner: str) -> None:
        self._release(keys=[self.lease_key(sink, event_id)], args=[owner])

    def mark_in(self, pipe: redis.client.Pipeline, sink: str, event_id: str) -> None:
        pipe.set(self.sent_key(sink, event_id), datetime.now(UTC).isoformat(), ex=self.ttl_s)
        pipe.delete(self.lease_key(sink, event_id))

    def mark(self, sink: str, event_id: str) -> None:
        with self.client.pipeline() as pipe:
            self.mark_in(pipe, sink, event_id)
            pipe.execute()


# ---------------------------------------------------------------- parked alerts


@dataclass(frozen=True)
class ParkedAlert:
    sink: str
    event: AlertEvent
    parked_at: datetime
    attempts: int
    """failed attempts so far"""
    last_error: str
    retries: int = 0
    """retries since it was parked (the backoff)"""
    retry_at: float | None = None
    """next retry (epoch seconds); None when read without it"""


class Parking(Protocol):
    """Alerts a sink kept refusing: what the courier needs of ``ParkedAlerts`` (and its in-memory double)."""

    def park(self, alert: ParkedAlert, retry_at: float) -> None: ...
    def due(self, sink: str, now: float, limit: int = 50) -> list[str]: ...
    def take(self, sink: str, event_id: str, now: float, lease_until: float) -> ParkedAlert | None: ...
    def remove(self, sink: str, event_id: str) -> None: ...
    def count(self, sink: str) -> int: ...
    def waiting(self, sink: str, limit: int = 100) -> list[ParkedAlert]: ...


# KEYS: parked zset; ARGV: event id, now, lease until. Take a due alert for one retry (a lease, not removal).
_TAKE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""


class ParkedAlerts:
    """Per sink: ``{prefix}alerts:parked:{sink}`` (event id → next retry) and ``...:{sink}:alerts`` (JSON)."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE)

    def schedule_key(self, sink: str) -> str:
        return f"{self.prefix}alerts:parked:{sink}"

    def alerts_key(self, sink: str) -> str:
        return f"{self.prefix}alerts:parked:{sink}:alerts"

    def park(self, alert: ParkedAlert, retry_at: float) -> None:
        record = {
            "event": alert.event.model_dump(mode="json"),
            "parked_at": alert.parked_at.isoformat(),
            "attempts": alert.attempts,
            "retries": alert.retries,
            "last_error": alert.last_error,
        }
        with self.client.pipeline() as pipe:
            pipe.hset(
                self.alerts_key(alert.sink), alert.event.event_id, json.dumps(record, ensure_ascii=False)
            )
            pipe.zadd(self.schedule_key(alert.sink), {alert.event.event_id: retry_at})
            pipe.execute()

    def due(self, sink: str, now: float, limit: int = 50) -> list[str]:
        return [_text(m) for m in self.client.zrangebyscore(self.schedule_key(sink), "-inf", now, 0, limit)]

    def take(self, sink: str, event_id: str, now: float, lease_until: float) -> ParkedAlert | None:
        """The parked alert, leased to the caller until ``lease_until``; None if not due or taken."""
        if not self._take(keys=[self.schedule_key(sink)], args=[event_id, now, lease_until]):
            return None
        raw = self.client.hget(self.alerts_key(sink), event_id)
        if raw is None:  # removed meanwhile: nothing left to retry
            self.client.zrem(self.schedule_key(sink), event_id)
            return None
        return self._alert(sink, raw)

    def remove(self, sink: str, event_id: str) -> None:
        with self.client.pipeline() as pipe:
            pipe.zrem(self.schedule_key(sink), event_id)
            pipe.hdel(self.alerts_key(sink), event_id)
            pipe.execute()

    def count(self, sink: str) -> int:
        return int(self.client.zcard(self.schedule_key(sink)))

    def waiting(self, sink: str, limit: int = 100) -> list[ParkedAlert]:
        """What operators see: parked alerts of ``sink``, next retry first."""
        scheduled = cast(
            list[tuple[bytes | str, float]],
            self.client.zrange(self.schedule_key(sink), 0, limit - 1, withscores=True),
        )
        ids = [_text(member) for member, _ in scheduled]
        raws = self.client.hmget(self.alerts_key(sink), ids) if ids else []
        return [
            replace(self._alert(sink, raw), retry_at=float(score))
            for (_, score), raw in zip(scheduled, raws, strict=True)
            if raw is not None
        ]

    def _alert(self, sink: str, raw: bytes | str) -> ParkedAlert:
        record: dict[str, Any] = json.loads(raw)
        return ParkedAlert(
            sink=sink,
            event=ALERT_EVENT_ADAPTER.validate_python(record["event"]),
            parked_at=datetime.fromisoformat(record["parked_at"]),
            attempts=int(record["attempts"]),
            last_error=str(record["last_error"]),
            retries=int(record.get("retries", 0)),
        )


# ---------------------------------------------------------------- one sink's delivery policy


@dataclass(frozen=True)
class RetryPolicy:
    first_delay_s: float = 0.5
    max_delay_s: float = 10.0
    rate_limited_delay_s: float = 5.0
    """a robot's rate limit (WeCom: 20 messages a minute) backs off from here"""
    max_rate_limited_delay_s: float = 30.0
    give_up_after_s: float = 60.0
    """a sink failing this long gets the alert parked"""
    parked_first_s: float = 30.0
    parked_max_s: float = 300.0
    lease_s: float = 30.0
    """longer than one attempt (the webhook's timeout) takes"""
    busy_wait_s: float = 1.0

    def delay(self, attempt: int, rate_limited: bool) -> float:
        """Seconds before retry number ``attempt + 1`` of one alert (attempt counts from 0)."""
        if rate_limited:
            return float(min(self.rate_limited_delay_s * 2**attempt, self.max_rate_limited_delay_s))
        return float(min(self.first_delay_s * 2**attempt, self.max_delay_s))

    def parked_delay(self, retries: int) -> float:
        """Seconds until a parked alert (or a down sink) that failed ``retries`` retries is tried again."""
        return float(min(self.parked_first_s * 2**retries, self.parked_max_s))


class Outcome(StrEnum):
    delivered = "delivered"
    duplicate = "duplicate"
    parked = "parked"


class Interrupted(Exception):
    """The alerter was asked to stop while an alert waited for a retry; it stays unacknowledged."""


class Courier:
    """Delivers alerts to one sink: sent once, retried with backoff, parked while the sink is down.

    Used from one thread at a time (the alerter gives each sink its own).
    """

    def __init__(
        self,
        sink: AlertSink,
        ledger: Ledger,
        parked: Parking,
        owner: str,
        stop: threading.Event,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sink = sink
        self.name = sink.name
        self.ledger = ledger
        self.marking = sink if isinstance(sink, MarkingSink) and isinstance(ledger, DeliveryLedger) else None
        """a sink that marks in its own transaction (Redis with the Redis ledger): exactly once"""
        self.parked = parked
        self.owner = owner
        self.stop = stop
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.failing_since: float | None = None
        self.next_probe_at = 0.0
        """while the sink is down, the next time an alert may try it (the others are parked at once)"""
        self.probe_failures = 0
        self._unmarked: set[str] = set()
        """sent, but Redis did not take the marker: mark again, never send again"""

    def down(self, now: float) -> bool:
        """True once the sink has failed for ``give_up_after_s`` without a success."""
        return self.failing_since is not None and now - self.failing_since >= self.policy.give_up_after_s

    def deliver(self, event: AlertEvent) -> Outcome:
        """Deliver, skip as already delivered, or park; raise Interrupted when stopped while waiting."""
        attempt = 0
        last_error = ""
        while True:
            result = self._attempt(event, park_when_down=(attempt, last_error))
            if isinstance(result, Outcome):
                return result
            if result is None:  # another alerter holds the lease
                self._wait(self.policy.busy_wait_s)
                continue
            last_error = str(result)
            now = self.clock()
            if self.down(now):
                self._probe_failed(now)
                return self._park(event, 1 + attempt, last_error)
            RETRIED.labels(self.name).inc()
            rate_limited = isinstance(result, SinkFailed) and result.rate_limited
            delay = self.policy.delay(attempt, rate_limited)
            log.warning(
                "alert sink %s failed for %s (attempt %d, again in %.1fs): %s",
                self.name, event.ticket_id, attempt + 1, delay, result,
            )  # fmt: skip
            attempt += 1
            self._wait(delay)

    def retry_parked(self, limit: int = 50) -> int:
        """Try due parked alerts once each, oldest first; stop at the first failure. Returns delivered."""
        now = self.clock()
        if now < self.next_probe_at:
            return 0
        delivered = 0
        for event_id in self.parked.due(self.name, now, limit):
            alert = self.parked.take(self.name, event_id, now, now + self.policy.lease_s)
            if alert is None:
                continue
            result = self._attempt(alert.event, park_when_down=None)
            if result is None:
                self.parked.park(alert, self.clock() + self.policy.busy_wait_s)
            elif isinstance(result, Outcome):
                self.parked.remove(self.name, event_id)
                if result is Outcome.delivered:
                    delivered += 1
                    log.info("parked alert for %s delivered to %s", alert.event.ticket_id, self.name)
            else:
                self._repark(alert, result)
                self._probe_failed(self.clock())
                break
        return delivered

    def _attempt(
        self, event: AlertEvent, park_when_down: tuple[int, str] | None
    ) -> Outcome | Exception | None:
        """One try: an Outcome, the sink's exception, or None if another alerter is sending it now.

        ``park_when_down``: (attempts so far, last error) — park without trying while the sink is down,
        unless a probe is due (then this alert is the probe).
        """
        if event.event_id in self._unmarked:
            return self._marked(event)
        now = self.clock()
        claim = self.ledger.claim(self.name, event.event_id, self.owner, now, self.policy.lease_s)
        if claim is Claim.sent:
            DUPLICATES.labels(self.name).inc()
            return Outcome.duplicate
        if claim is Claim.busy:
            return None
        if claim is Claim.stale and self.marking is None:
            IN_DOUBT.labels(self.name).inc()
            log.warning(
                "alert for %s may already be on %s (an alerter died mid-send); sending again",
                event.ticket_id, self.name,
            )  # fmt: skip
        if park_when_down is not None and self.down(now) and now < self.next_probe_at:
            self.ledger.release(self.name, event.event_id, self.owner)
            attempts, error = park_when_down
            since = _iso(self.failing_since or now)
            return self._park(event, attempts, error or f"not tried: sink failing since {since}")
        try:
            if self.marking is not None:
                assert isinstance(self.ledger, DeliveryLedger)
                if not self.marking.send_marked(event, self.ledger):
                    DUPLICATES.labels(self.name).inc()
                    return Outcome.duplicate
                return self._succeeded()
            self.sink.send(event)
        except Exception as exc:
            self._failed(event, now)
            return exc
        self._unmarked.add(event.event_id)  # the in-doubt window opens: sent, not yet marked
        return self._marked(event)

    def _marked(self, event: AlertEvent) -> Outcome:
        self.ledger.mark(self.name, event.event_id)  # Redis errors propagate: the entry stays pending
        self._unmarked.discard(event.event_id)
        return self._succeeded()

    def _succeeded(self) -> Outcome:
        if self.failing_since is not None:
            log.info("alert sink %s works again", self.name)
        self.failing_since = None
        self.next_probe_at = 0.0
        self.probe_failures = 0
        DELIVERED.labels(self.name).inc()
        return Outcome.delivered

    def _failed(self, event: AlertEvent, now: float) -> None:
        if self.failing_since is None:
            self.failing_since = now
        try:
            self.ledger.release(self.name, event.event_id, self.owner)
        except redis.RedisError as exc:  # the lease expires by itself
            log.warning("could not release the lease on %s for %s: %s", self.name, event.event_id, exc)

    def _park(self, event: AlertEvent, attempts: int, reason: str) -> Outcome:
        now = self.clock()
        alert = ParkedAlert(self.name, event, datetime.fromtimestamp(now, UTC), attempts, reason)
        self.parked.park(alert, now + self.policy.parked_first_s)
        PARKED.labels(self.name).inc()
        log.error("alert for %s parked on sink %s: %s", event.ticket_id, self.name, reason)
        return Outcome.parked

    def _probe_failed(self, now: float) -> None:
        self.probe_failures += 1
        self.next_probe_at = now + self.policy.parked_delay(self.probe_failures - 1)

    def _repark(self, alert: ParkedAlert, error: Exception) -> None:
        delay = self.policy.parked_delay(alert.retries)
        retry = replace(alert, attempts=alert.attempts + 1, retries=alert.retries + 1, last_error=str(error))
        self.parked.park(retry, self.clock() + delay)
        RETRIED.labels(self.name).inc()
        log.warning("parked alert for %s still fails on %s: %s", alert.event.ticket_id, self.name, error)

    def _wait(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise Interrupted(self.name)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
