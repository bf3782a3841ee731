"""Malformed messages for each input topic: what must be dead-lettered with a reason, never crash a worker.

Each topic gets a deterministic mix of kinds. Structural ones are the same on
every topic: random bytes, empty, non-UTF-8, JSON that is not an object,
100,000-deep nesting, 5,000-digit numbers, a value near the broker's 1 MB limit,
wrong types and missing fields, ``schema_version: true``, ``occurred_at: 12345``,
NUL characters (escaped in a field, raw in the bytes), and another topic's
event. Semantic ones are built from real tickets of the run (``Target``), each
a well-formed event that the consumer of *that* topic can tell is wrong:

- submitted: a submission claiming another ticket's id (ids derive from channel + message id);
- routed: a decision whose ticket id is not its submission's; a lead department the policy lacks;
- feedback: an unknown ticket; actions the state refuses (resolve before accept, rate an open
  ticket, accept twice); another department acting on a ticket that is not its own;
  ``ExtensionRequested`` with ``extension: "5 fortnights"``;
- sla: an unknown ticket; an alert whose key names another ticket;
- reroute: a request whose ticket id is not its submission's.

A message counts as dead-lettered when a dead letter names exactly where it was
written (topic, partition, offset), or — for one that carries a submission —
when a dead letter's original bytes hold that submission's channel message id
(``poison-N``): the router may pass it on and the recorder dead-letter the
decision. A forged re-route for an unknown ticket is left out: nothing in it is
inconsistent, and only the ticket's state says it is wrong.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from producers.publisher import build_submission
from schemas.events import RerouteRequested, TicketSubmitted
from schemas.feedback import (
    ExtensionRequested,
    SatisfactionRated,
    TicketAccepted,
    TicketResolved,
)
from schemas.policy import RoutingPolicy
from schemas.sla import SlaWarning
from streams.routing import route_ticket

TOPIC_KINDS = ("submitted", "routed", "feedback", "sla", "reroute")
NEAR_LIMIT_BYTES = 1_000_000
DEEP = 100_000
CAPS = {"near_limit": 2, "deep_nesting": 12}
"""Big kinds are capped per topic (a thousand 1 MB messages would measure the disk, not ZTC)."""
UNKNOWN_TICKET = "ZTC-20990101-DEADBEEF"
MARKER = "poison-"
"""channel message ids of poison submissions: ``poison-N``, unique per message"""

COMMON = (
    "random_bytes", "empty", "non_utf8", "json_non_object", "deep_nesting", "huge_number", "near_limit",
    "wrong_types", "missing_field", "schema_version_true", "occurred_at_int", "nul_escaped", "nul_raw",
    "wrong_event_type",
)  # fmt: skip
SEMANTIC = {
    # A well-formed submission carrying another ticket's id is not poison: ZTC derives ticket ids,
    # so it becomes the ticket of its own channel message (tests/unit/test_intake.py holds that).
    "submitted": ("blank_text",),
    "routed": ("other_ticket", "unknown_department"),
    "feedback": ("unknown_ticket", "not_allowed", "other_department", "extension_fortnights"),
    "sla": ("unknown_ticket", "other_ticket"),
    "reroute": ("other_ticket",),
}
WRONG_TYPES: dict[str, tuple[tuple[str, Any], ...]] = {
    "submitted": (("text", ["诉求"]), ("channel", 5), ("submitted_at", False)),
    "routed": (("confidence", "高"), ("co_departments", "market"), ("submission", "ZTC")),
    "feedback": (("department", 42), ("actor", {"name": "王"})),
    "sla": (("stage", 1), ("due_at", True), ("key", ["k"])),
    "reroute": (("excluded_departments", 5), ("submission", [])),
}
COMMON_WRONG: tuple[tuple[str, Any], ...] = (
    ("ticket_id", 12345),
    ("ticket_id", ["ZTC"]),
    ("occurred_at", {"x": 1}),
    ("event_id", 7),
    ("type", 3),
    ("schema_version", "一"),
)


@dataclass(frozen=True)
class Target:
    """A real ticket of the run: poison aims at it to look valid."""

    ticket_id: str
    lead: str
    departments: tuple[str, ...]
    status: str
    submission: TicketSubmitted


@dataclass(frozen=True)
class Poison:
    kind: str
    key: bytes | None
    value: bytes
    marker: str | None = None
    """the channel message id of the submission inside it (``poison-N``), if it carries one"""


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


class PoisonMaker:
    """Deterministic poison for one run: ``batch(topic_kind, n)``."""

    def __init__(self, policy: RoutingPolicy, targets: list[Target], now: datetime, seed: int = 7) -> None:
        if not targets:
            raise ValueError("poison needs at least one real ticket to aim at")
        self.policy = policy
        self.targets = targets
        self.now = now
        self.rng = random.Random(seed)
        self.serial = 0

    # ------------------------------------------------------------ valid documents

    def _submission(self, text: str = "营业执照变更登记一直没有办下来，请帮忙协调") -> TicketSubmitted:
        self.serial += 1
        fields = {"text": text, "channel": "api", "channel_message_id": f"{MARKER}{self.serial}"}
        return build_submission(fields, self.now)

    def _target(self, status: str | None = None) -> Target:
        fitting = [t for t in self.targets if status is None or t.status == status]
        return self.rng.choice(fitting or self.targets)

    def valid(self, topic: str) -> dict[str, Any]:
        """A well-formed event for ``topic`` (the base that mutations spoil)."""
        target = self._target()
        if topic == "submitted":
            return self._submission().model_dump(mode="json")
        if topic == "routed":
            return route_ticket(self._submission(), self.policy, self.now).model_dump(mode="json")
        if topic == "feedback":
            event = TicketAccepted(
                ticket_id=target.ticket_id, occurred_at=self.now, department=target.lead, actor="王科长"
            )
            return event.model_dump(mode="json")
        if topic == "sla":
            return self._sla(target.ticket_id, target.lead)
        submission = self._submission()
        reroute = RerouteRequested(
            ticket_id=submission.ticket_id,
            occurred_at=self.now,
            submission=submission,
            excluded_departments=(target.lead,),
            reason="not_our_remit",
            bounce_event_id=f"poison-bounce-{self.serial}",
        )
        return reroute.model_dump(mode="json")

    def _sla(self, ticket_id: str, department: str, key_ticket: str | None = None) -> dict[str, Any]:
        """An SLA warning as JSON; ``key_ticket``: its key names that ticket instead (inconsistent)."""
        doc = SlaWarning(
            ticket_id=ticket_id,
            occurred_at=self.now,
            stage="accept",
            department=department,
            due_at=self.now + timedelta(minutes=5),
            key=f"{ticket_id}:accept:warning:{self.rng.randint(50, 10**6)}",
            share=0.5,
        ).model_dump(mode="json")
        if key_ticket is not None:
            doc["key"] = doc["key"].replace(ticket_id, key_ticket, 1)
        return doc

    # ------------------------------------------------------------ kinds

    def batch(self, topic: str, n: int) -> list[Poison]:
        kinds = COMMON + SEMANTIC[topic]
        used: dict[str, int] = {}
        out = []
        for _ in range(n):
            kind = self.rng.choice(kinds)
            while used.get(kind, 0) >= CAPS.get(kind, n + 1):
                kind = self.rng.choice(kinds)
            used[kind] = used.get(kind, 0) + 1
            serial = self.serial
            key, value = self._make(topic, kind)
            out.append(Poison(kind, key, value, f"{MARKER}{self.serial}" if self.serial > serial else None))
        return out

    def _key(self) -> bytes | None:
        choice = self.rng.random()
        if choice < 0.2:
            return None
        if choice < 0.3:
            return self.rng.randbytes(self.rng.randint(1, 40))
        return self._target().ticket_id.encode()

    def _make(self, topic: str, kind: str) -> tuple[bytes | None, bytes]:
        maker = getattr(self, f"_{kind}")
        value: bytes = maker(topic)
        return self._key(), value

    def _random_bytes(self, topic: str) -> bytes:
        return self.rng.randbytes(self.rng.randint(1, 2000))

    def _empty(self, topic: str) -> bytes:
        return b""

    def _non_utf8(self, topic: str) -> bytes:
        doc = self.valid(topic)
        text = json.dumps(doc, ensure_ascii=False)
        if self.rng.random() < 0.5 and any(ord(c) > 127 for c in text):
            return text.encode("gbk", errors="replace")
        raw = text.encode()
        cut = self.rng.randint(1, len(raw) - 1)
        return raw[:cut] + self.rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe9"]) + raw[cut:]

    def _json_non_object(self, topic: str) -> bytes:
        choices = [b"[]", b"[1, 2, 3]", b'"TicketSubmitted"', b"42", b"null", b"true", b"-0.5e7", b'""']
        if self.rng.random() < 0.3:
            return _dump([self.valid(topic)])
        return self.rng.choice(choices)

    def _deep_nesting(self, topic: str) -> bytes:
        shape = self.rng.choice(["array", "object", "field"])
        if shape == "array":
            return b"[" * DEEP + b"]" * DEEP
        if shape == "object":
            return b'{"a":' * DEEP + b"1" + b"}" * DEEP
        doc = self.valid(topic)
        doc["ticket_id"] = "@@DEEP@@"
        return _dump(doc).replace(b'"@@DEEP@@"', b"[" * DEEP + b"]" * DEEP)

    def _huge_number(self, topic: str) -> bytes:
        doc = self.valid(topic)
        field = self.rng.choice(["schema_version", "occurred_at", "ticket_id", *doc.keys()])
        doc[field] = "@@NUM@@"
        digits = str(self.rng.randint(1, 9)) + "".join(self.rng.choices("0123456789", k=4999))
        return _dump(doc).replace(b'"@@NUM@@"', digits.encode())

    def _near_limit(self, topic: str) -> bytes:
        doc = self.valid(topic)
        doc["padding" if topic in ("feedback", "sla") else "ticket_id"] = "@@PAD@@"
        raw = _dump(doc)
        return raw.replace(b"@@PAD@@", b"x" * (NEAR_LIMIT_BYTES - len(raw)))

    def _wrong_types(self, topic: str) -> bytes:
        doc = self.valid(topic)
        field, value = self.rng.choice(COMMON_WRONG + WRONG_TYPES[topic])
        doc[field] = value
        return _dump(doc)

    def _missing_field(self, topic: str) -> bytes:
        doc = self.valid(topic)
        required = {"ticket_id", "occurred_at"} | {
            "submitted": {"text", "channel_message_id", "submitted_at"},
            "routed": {"submission", "lead_department", "policy_version"},
            "feedback": {"department", "actor"},
            "sla": {"stage", "key", "due_at"},
            "reroute": {"submission", "excluded_departments"},
        }[topic]
        del doc[self.rng.choice(sorted(required))]
        return _dump(doc)

    def _schema_version_true(self, topic: str) -> bytes:
        return _dump({**self.valid(topic), "schema_version": True})

    def _occurred_at_int(self, topic: str) -> bytes:
        return _dump({**self.valid(topic), "occurred_at": 12345})

    def _nul_escaped(self, topic: str) -> bytes:
        """A NUL character inside a field of an otherwise well-formed event (JSON ``\\u0000``)."""
        if topic in ("submitted", "routed", "reroute"):
            doc = self.valid(topic)
            inner = doc if topic == "submitted" else doc["submission"]
            field = self.rng.choice(["text", "title", "channel_message_id"])
            inner[field] = inner[field][:5] + "\0" + inner[field][5:]
            return _dump(doc)
        target = self._target("routed")
        if topic == "feedback":
            accepted = TicketAccepted(
                ticket_id=target.ticket_id, occurred_at=self.now, department=target.lead, actor="王科长"
            ).model_dump(mode="json")
            return _dump({**accepted, "actor": "王\0科长"})
        doc = self._sla(target.ticket_id, target.lead)
        doc["key"] = doc["key"].replace(":accept", "\0:accept")
        return _dump(doc)

    def _nul_raw(self, topic: str) -> bytes:
        raw = _dump(self.valid(topic))
        if self.rng.random() < 0.2:
            return b"\0" * self.rng.randint(1, 64)
        cut = self.rng.randint(0, len(raw))
        return raw[:cut] + b"\0" + raw[cut:]

    def _wrong_event_type(self, topic: str) -> bytes:
        other = self.rng.choice([t for t in TOPIC_KINDS if t != topic])
        return _dump(self.valid(other))

    # ------------------------------------------------------------ semantic kinds

    def _other_ticket(self, topic: str) -> bytes:
        """A well-formed event whose ticket id belongs to another ticket than its content."""
        victim = self._target()
        if topic == "sla":
            stranger = self._target()
            other = UNKNOWN_TICKET if stranger.ticket_id == victim.ticket_id else stranger.ticket_id
            return _dump(self._sla(victim.ticket_id, victim.lead, key_ticket=other))
        doc = self.valid(topic)
        doc["ticket_id"] = victim.ticket_id
        return _dump(doc)

    def _blank_text(self, topic: str) -> bytes:
        doc = self.valid("submitted")
        doc["text"] = " \u3000 \t "  # only spaces, an ideographic one included
        return _dump(doc)

    def _unknown_department(self, topic: str) -> bytes:
        doc = self.valid("routed")
        doc["lead_department"] = "no-such-department"
        return _dump(doc)

    def _unknown_ticket(self, topic: str) -> bytes:
        if topic == "sla":
            return _dump(self._sla(UNKNOWN_TICKET, "market"))
        event = TicketAccepted(
            ticket_id=UNKNOWN_TICKET, occurred_at=self.now, department="market", actor="王"
        )
        return _dump(event.model_dump(mode="json"))

    def _not_allowed(self, topic: str) -> bytes:
        target = self._target("routed")
        choice = self.rng.randint(0, 2)
        if choice == 0:
            resolved = TicketResolved(
                ticket_id=target.ticket_id,
                occurred_at=self.now,
                department=target.lead,
                actor="王科长",
                resolution="未签收先办结",
            )
            return _dump(resolved.model_dump(mode="json"))
        if choice == 1:
            rated = SatisfactionRated(
                ticket_id=target.ticket_id,
                occurred_at=self.now,
                department="enterprise",
                actor="企业",
                rating="satisfied",
                rated_by="enterprise",
            )
            return _dump(rated.model_dump(mode="json"))
        accepted = self._target("accepted")
        again = TicketAccepted(
            ticket_id=accepted.ticket_id, occurred_at=self.now, department=accepted.lead, actor="王科长"
        )
        return _dump(again.model_dump(mode="json"))

    def _other_department(self, topic: str) -> bytes:
        target = self._target()
        outsider = next(
            d
            for d in self.rng.sample(self.policy.department_codes, k=len(self.policy.department_codes))
            if d not in target.departments and d != "office"
        )
        event = TicketAccepted(
            ticket_id=target.ticket_id, occurred_at=self.now, department=outsider, actor="李"
        )
        return _dump(event.model_dump(mode="json"))

    def _extension_fortnights(self, topic: str) -> bytes:
        target = self._target("accepted")
        event = ExtensionRequested(
            ticket_id=target.ticket_id,
            occurred_at=self.now,
            department=target.lead,
            actor="王科长",
            extension="5 working days",
            reason="材料较多，需要更多时间",
        )
        return _dump({**event.model_dump(mode="json"), "extension": "5 fortnights"})
