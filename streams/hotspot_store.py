"""Where the hot-spot worker keeps its groups: Redis, so they survive the worker and the broker.

The embedded broker forgets every topic and offset when it restarts, so a Faust
table's changelog would come back empty; Redis (append-only file) does not. One
batch is one optimistic transaction: the streets it touches, the signals of their
tickets and the ticket → street index are read under WATCH, the pure
``settle_street`` decides, and everything it changed is written in one MULTI/EXEC
(retried when another worker wrote one of the keys meanwhile):

- ``{prefix}hotspots:street:<street>`` hash: group id → group JSON (the grouping's state; it
  expires a day after the window once nothing more is written about the street);
- ``{prefix}hotspots:ticket:<ticket id>``: its street (a ticket found there was grouped before and
  changes nothing, even when its group no longer keeps it); ``…:signals:<ticket id>``: its
  ``TicketSignals`` (both expire a day after the window);
- ``{prefix}hotspots:view`` hash and ``…:index`` sorted set: every hot spot as the office
  reads it (``HotSpotDetected`` as it stands now), by detection time;
- a newly hot group's report goes, in the same transaction, to ``{prefix}hotspots:pending``
  (published to ``tickets.hotspots`` by the worker, then removed) and to the alert outbox
  stream the alerter delivers from.

So a group is reported once: whoever marks it detected also queues its report, in
one transaction; a redelivered message finds its ticket grouped already and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import redis

from schemas.hotspot_events import (
    HotSpotDetected,
    HotspotKeys,
    SignalEvent,
    detected,
    signal_after,
    street_words,
)
from schemas.hotspots import COMPARED_MEMBERS, HotspotGroup, HotspotRequest, TicketSignals, settle_street
from schemas.outbox import alert_outbox_key
from schemas.policy import RoutingPolicy

log = logging.getLogger(__name__)

DAY_S = 24 * 3600
WRITTEN_KEPT = 5000
"""Groups this worker wrote last, with their stored form: read back unchanged, they are not decoded."""


@dataclass
class _Read:
    """What one attempt read under WATCH: each street's groups (JSON and parsed), the tickets' signals."""

    stored: dict[str, dict[str, str]] = field(default_factory=dict)
    groups: dict[str, list[HotspotGroup]] = field(default_factory=dict)
    signals: dict[str, TicketSignals] = field(default_factory=dict)


class RedisHotspotStore:
    """Apply a batch of routed requests and signals; return the reports of groups that became hot."""

    def __init__(self, client: redis.Redis, prefix: str, policy: RoutingPolicy) -> None:
        self.client = client
        self.keys = HotspotKeys(prefix)
        self.policy = policy
        self.ttl_s = int(policy.hotspots.window.total_seconds()) + DAY_S
        self.alert_outbox = alert_outbox_key(prefix)
        self._written: dict[str, tuple[str, HotspotGroup]] = {}

    def apply(
        self,
        requests: Sequence[HotspotRequest],
        signal_events: Sequence[tuple[str, SignalEvent]],
        now: datetime,
    ) -> list[HotSpotDetected]:
        while True:
            with self.client.pipeline() as pipe:
                try:
                    return self._attempt(pipe, requests, signal_events, now)
                except redis.WatchError:
                    log.debug("hot-spot keys changed meanwhile; reading them again")

    def _attempt(
        self,
        pipe: redis.client.Pipeline,
        requests: Sequence[HotspotRequest],
        signal_events: Sequence[tuple[str, SignalEvent]],
        now: datetime,
    ) -> list[HotSpotDetected]:
        signalled = list(dict.fromkeys(ticket for ticket, _ in signal_events))
        tickets = [*signalled, *dict.fromkeys(r.ticket_id for r in requests)]
        index_keys = [self.keys.ticket(t) for t in tickets]
        if index_keys:
            pipe.watch(*index_keys)  # type: ignore[no-untyped-call]
        values = pipe.mget(index_keys) if index_keys else []
        found = {t: _text(v) for t, v in zip(tickets, values, strict=True) if v}
        requests = [r for r in requests if r.ticket_id not in found]  # grouped before: changes nothing
        streets = list(
            dict.fromkeys([*(r.street for r in requests), *(found[t] for t in signalled if t in found)])
        )
        read = self._read(pipe, streets, [*signalled, *(r.ticket_id for r in requests)])
        signals = dict(read.signals)
        changed_signals: dict[str, TicketSignals] = {}
        for ticket, event in signal_events:
            changed_signals[ticket] = signals[ticket] = signal_after(signals.get(ticket), event)
        reports: list[HotSpotDetected] = []
        pipe.multi()
        for ticket, value in changed_signals.items():
            pipe.set(self.keys.signals(ticket), value.model_dump_json(), ex=self.ttl_s)
        for request in requests:
            pipe.set(self.keys.ticket(request.ticket_id), request.street, ex=self.ttl_s)
        for street in streets:
            mine = [r for r in requests if r.street == street]
            reports += self._settle(pipe, street, read, mine, signals, now, changed_signals)
        pipe.execute()
        return reports

    def _read(self, pipe: redis.client.Pipeline, streets: list[str], tickets: Iterable[str]) -> _Read:
        """The streets' groups and the signals of every ticket in them (all watched)."""
        read = _Read()
        street_keys = [self.keys.street(s) for s in streets]
        if street_keys:
            pipe.watch(*street_keys)  # type: ignore[no-untyped-call]
        for street, key in zip(streets, street_keys, strict=True):
            read.stored[street] = {_text(k): _text(v) for k, v in pipe.hgetall(key).items()}
            read.groups[street] = [self._decoded(k, v) for k, v in read.stored[street].items()]
        members = [t for groups in read.groups.values() for g in groups for t in g.ticket_ids]
        wanted = list(dict.fromkeys([*tickets, *members]))
        signal_keys = [self.keys.signals(t) for t in wanted]
        if signal_keys:
            pipe.watch(*signal_keys)  # type: ignore[no-untyped-call]
            for ticket, raw in zip(wanted, pipe.mget(signal_keys), strict=True):
                if raw:
                    read.signals[ticket] = TicketSignals.model_validate_json(raw)
        return read

    def _settle(
        self,
        pipe: redis.client.Pipeline,
        street: str,
        read: _Read,
        requests: Sequence[HotspotRequest],
        signals: Mapping[str, TicketSignals],
        now: datetime,
        signals_changed: Iterable[str] = (),
    ) -> list[HotSpotDetected]:
        stored = read.stored.get(street, {})
        words = street_words(street, self.policy)
        outcome = settle_street(
            read.groups.get(street, []), requests, signals, self.policy.hotspots, now, words
        )
        loaded = {
            id(g) for g in read.groups.get(street, [])
        }  # settle_street keeps unchanged groups as they are
        kept = {g.group_id for g in outcome.groups}
        key = self.keys.street(street)
        gone = [gid for gid in stored if gid not in kept]
        if gone:
            pipe.hdel(key, *gone)
        changed = {g.group_id: self._encoded(g) for g in outcome.groups if id(g) not in loaded}
        if changed:
            pipe.hset(key, mapping=changed)  # type: ignore[arg-type]
        pipe.expire(key, self.ttl_s)  # a street nobody writes about any more goes after the window
        signalled = set(signals_changed)
        for group in outcome.hot:  # the office's view, refreshed as the group grows or its tickets change
            if id(group) in loaded and signalled.isdisjoint(group.ticket_ids):
                continue
            view = detected(group, self.policy, now, signals)
            pipe.hset(self.keys.view, view.hotspot_id, view.model_dump_json())
            pipe.zadd(self.keys.index, {view.hotspot_id: view.detected_at.timestamp()}, nx=True)
        reports = [detected(group, self.policy, now, signals) for group in outcome.detected]
        for report in reports:
            raw = report.model_dump_json()
            pipe.hset(self.keys.pending, report.hotspot_id, raw)
            pipe.xadd(self.alert_outbox, {"event": raw})
            log.info("hot spot %s: %d tickets in %s", report.hotspot_id, len(report.tickets), street)
        return reports

    def _decoded(self, group_id: str, raw: str) -> HotspotGroup:
        """The group a stored form holds; the one this worker wrote last is not decoded again."""
        written = self._written.get(group_id)
        return written[1] if written is not None and written[0] == raw else decode_group(raw)

    def _encoded(self, group: HotspotGroup) -> str:
        raw = encode_group(group)
        if len(self._written) >= WRITTEN_KEPT:
            self._written.clear()
        self._written[group.group_id] = (raw, group)
        return raw

    # ------------------------------------------------------------ publishing and reading

    def pending(self) -> list[HotSpotDetected]:
        """Reports not yet acknowledged by the broker (left by a crash, or a broker that refused them)."""
        raw = self.client.hgetall(self.keys.pending)
        return sorted(
            (HotSpotDetected.model_validate_json(v) for v in raw.values()), key=lambda e: e.detected_at
        )

    def published(self, hotspot_ids: Iterable[str]) -> None:
        ids = list(hotspot_ids)
        if ids:
            self.client.hdel(self.keys.pending, *ids)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# ------------------------------------------------------------ the stored form of a group

_MEMBER_FIELDS = ("ticket_id", "enterprise", "enterprise_name", "street", "category", "title", "text")


def encode_group(group: HotspotGroup) -> str:
    """A group as stored: members as short lists, the text kept only where a request is compared.

    A busy street's group is read and written on every batch that touches the street, so its size
    is what the worker pays: pydantic's JSON of a 1,400-member group cost ~20 ms each way.
    """
    compared = {0, *range(max(1, len(group.requests) - COMPARED_MEMBERS + 1), len(group.requests))}
    members = [
        [
            *(getattr(r, name) for name in _MEMBER_FIELDS[:-1]),
            r.text if i in compared else "",
            r.at.isoformat(),
            list(r.departments),
        ]
        for i, r in enumerate(group.requests)
    ]
    detected_at = group.detected_at.isoformat() if group.detected_at is not None else None
    head = [group.group_id, group.street, group.category, detected_at, group.more]
    return json.dumps({"v": 1, "group": head, "members": members}, ensure_ascii=False)


def decode_group(raw: bytes | str) -> HotspotGroup:
    """The group ``encode_group`` wrote (trusted: only this worker writes these keys)."""
    doc = json.loads(raw)
    group_id, street, category, detected_at, more = doc["group"]
    requests = tuple(
        HotspotRequest.model_construct(
            **dict(zip(_MEMBER_FIELDS, m[:7], strict=True)),
            at=datetime.fromisoformat(m[7]),
            departments=tuple(m[8]),
        )
        for m in doc["members"]
    )
    return HotspotGroup.model_construct(
        group_id=group_id,
        street=street,
        category=category,
        requests=requests,
        detected_at=datetime.fromisoformat(detected_at) if detected_at else None,
        more=more,
    )
