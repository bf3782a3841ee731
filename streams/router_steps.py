"""The router's steps without Faust: one input's bytes in, the records to send out.

``route`` parses and validates a submitted message once (``streams.intake``:
size, depth and number limits, strict schema, derived ticket id) and routes it
to ``tickets.routed`` and every department it names — unless the channel message
was routed recently (``seen``, a :class:`SeenMessages`) — and says what to
remember; ``reroute`` routes a re-route request without the departments that
bounced the ticket. No step raises on input: whatever cannot be handled becomes
a dead letter with its reason. The Faust agents in ``streams.router`` only send
what a step returns.

``seen`` is a cheap early filter, not the guarantee: the recorder applies the
first routing of a channel message only (its message index in Redis) and
refuses any later one that does not answer the ticket's own re-route request,
so a repeat the filter misses (after a restart, or beyond its size) changes nothing.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from pydantic import BaseModel

from schemas.dead_letters import dead_letter
from schemas.events import RerouteRequested, TicketRouted, derived_event_id
from schemas.policy import RoutingPolicy
from schemas.topics import Topics
from streams.classifier import ModelIdentity
from streams.intake import InvalidInput, parse_submission
from streams.metrics import RouterMetrics
from streams.routing import LabelModel, route_ticket

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class Origin(NamedTuple):
    """Where an input was read: its topic, partition and offset (for the dead letter)."""

    topic: str
    partition: int = 0
    offset: int = 0


class Send(NamedTuple):
    """One record to send (a tuple: one per output record, made at a third of a dataclass's cost)."""

    topic: str
    key: bytes | None
    value: bytes


def event_bytes(event: BaseModel) -> bytes:
    """``event.model_dump_json().encode()``: the same bytes, without decoding them to a str and back."""
    return event.__pydantic_serializer__.to_json(event)


@dataclass
class StepOutput:
    sends: list[Send] = field(default_factory=list)
    remember: tuple[str, str] | None = None
    """(channel message, ticket id) to put in ``seen``"""


class SeenMessages:
    """The channel messages routed lately (dedupe key → ticket id), the oldest forgotten first.

    Bounded twice: by ``capacity`` (memory: about 250 bytes an entry, so the default is ~50 MB
    at most) and by ``window`` (the policy's ``dedupe_window_days``): an entry older than the
    window is forgotten at the next ``remember``, so a year of intake never grows it and a
    quiet router does not keep last year's messages. ``clock`` tells when an entry was made.
    """

    def __init__(
        self,
        capacity: int = 200_000,
        window: timedelta | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.capacity = capacity
        self.window = window
        self.clock = clock
        self._tickets: OrderedDict[str, tuple[str, datetime | None]] = OrderedDict()

    def get(self, dedupe_key: str) -> str | None:
        entry = self._tickets.get(dedupe_key)
        if entry is None:
            return None
        ticket_id, made = entry
        if made is None or self.window is None or self.clock is None:
            return ticket_id
        return None if self.clock() - made > self.window else ticket_id

    def remember(self, dedupe_key: str, ticket_id: str) -> None:
        now = self.clock() if self.clock is not None else None
        self._tickets[dedupe_key] = (ticket_id, now)
        self._tickets.move_to_end(dedupe_key)
        while len(self._tickets) > self.capacity:
            self._tickets.popitem(last=False)
        if now is not None and self.window is not None:
            self._forget_before(now - self.window)

    def _forget_before(self, oldest: datetime) -> None:
        while self._tickets:
            made = next(iter(self._tickets.values()))[1]
            if made is None or made >= oldest:
                return
            self._tickets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._tickets)


class RouterSteps:
    def __init__(
        self,
        topics: Topics,
        policy: RoutingPolicy,
        clock: Clock,
        counts: RouterMetrics,
        model: LabelModel | None = None,
    ) -> None:
        self.topics = topics
        self.policy = policy
        self.clock = clock
        self.counts = counts
        self.model: LabelModel | None = None
        self.model_identity: ModelIdentity | None = None
        self.use_model(model)
        self._department_topics: dict[str, str] = {}

    def use_model(self, model: LabelModel | None) -> None:
        """Route with ``model`` from the next input on; its identity (if it has one) is stamped."""
        identity = getattr(model, "identity", None)
        self.model = model
        self.model_identity = identity if isinstance(identity, ModelIdentity) else None

    def route(self, raw: bytes | None, origin: Origin, seen: SeenMessages) -> StepOutput:
        """A submitted message routed (once per channel message while ``seen`` remembers it)."""
        self.counts.count_in(origin.topic)
        try:
            submission = parse_submission(raw)
        except InvalidInput as exc:
            return self.dead_letter(raw, origin, str(exc), "validate")
        except Exception as exc:  # a bug must not stop the agent: dead-letter and go on
            log.exception("validating %s failed", origin.offset)
            return self.dead_letter(
                raw, origin, f"validation failed: {type(exc).__name__}: {exc}", "validate"
            )
        try:
            first = seen.get(submission.dedupe_key)
            if first is not None:
                log.info("duplicate of %s ignored (%s)", first, submission.dedupe_key)
                return StepOutput()
            decision = route_ticket(
                submission, self.policy, self.clock(), model=self.model, model_identity=self.model_identity
            )
            return StepOutput(self._publish(decision), (submission.dedupe_key, submission.ticket_id))
        except Exception as exc:
            log.exception("routing failed for %s", origin.offset)
            return self.dead_letter(raw, origin, f"routing failed: {exc!r}", "route")

    def reroute(self, raw: bytes | None, origin: Origin) -> StepOutput:
        try:
            request = RerouteRequested.model_validate_json(raw or b"")
            excluded = frozenset(request.excluded_departments)
            event_id = derived_event_id("rerouted", request.event_id)
            decision = route_ticket(
                request.submission,
                self.policy,
                self.clock(),
                excluded,
                event_id,
                self.model,
                self.model_identity,
            )
            return StepOutput(
                self._publish(decision.model_copy(update={"reroute_request_id": request.event_id}))
            )
        except Exception as exc:
            log.exception("re-routing failed for %s", origin.offset)
            return self.dead_letter(raw, origin, f"re-routing failed: {exc!r}", "reroute")

    def dead_letter(self, raw: bytes | None, origin: Origin, reason: str, stage: str) -> StepOutput:
        record = dead_letter(
            raw,
            reason=reason,
            stage=stage,
            source_topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            now=self.clock(),
        )
        log.warning("dead-lettered %s@%s/%s: %s", origin.topic, origin.partition, origin.offset, reason)
        self.counts.dead_letters.labels(stage=stage).inc()
        return StepOutput([Send(self.topics.deadletter, None, event_bytes(record))])

    def _publish(self, decision: TicketRouted) -> list[Send]:
        """The decision, serialised once, to ``tickets.routed`` and to each of its departments."""
        payload = event_bytes(decision)
        key = decision.ticket_id.encode()
        routed = self.topics.routed
        sends = [Send(routed, key, payload)]
        sends += [Send(self._department_topic(code), key, payload) for code in decision.departments]
        self.counts.count_out(routed)
        self.counts.routing_latency.observe(
            max(0.0, (decision.occurred_at - decision.submission.submitted_at).total_seconds())
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "routed %s → %s (co: %s) [%s, %.2f]",
                decision.ticket_id,
                decision.lead_department,
                ",".join(decision.co_departments) or "-",
                decision.category,
                decision.confidence,
            )
        return sends

    def _department_topic(self, code: str) -> str:
        found = self._department_topics.get(code)
        if found is None:
            found = self._department_topics[code] = self.topics.department(code)
        return found
