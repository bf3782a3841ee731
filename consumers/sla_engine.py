"""Pure SLA engine: how each recorded event moves a ticket's clocks, and what the monitor must emit when.

``advance`` runs after ``apply`` (same inputs, same purity): it starts clocks
when a ticket is routed or dispatched, stops the accept clock when the lead
accepts, pauses both while the ticket awaits the enterprise (deadlines move by
the paused business time), restarts them on re-routing and reopening, and
moves the resolve deadline by an approved extension. ``schedule`` lists the
warnings, breaches and escalation rungs still to come, each with a unique key
(ticket:stage:kind:round) so it is emitted once.

``sla_status`` is the one rule for "which stages are open, at risk, overdue":
``open_windows`` gives each open stage its warning moment and deadline (no
``now``: the recorder indexes them), ``StageWindow.state(now)`` judges it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from schemas.business_calendar import (
    BusinessCalendar,
    business_seconds_between,
    due_at,
    hold_until_working_time,
    shift_deadline,
    warning_at,
)
from schemas.events import Event, Priority, TicketRouted, derived_event_id
from schemas.feedback import (
    ExtensionApproved,
    InformationRequested,
    InformationSupplied,
    TicketDispatched,
    TicketResolved,
)
from schemas.policy import RoutingPolicy
from schemas.sla import SlaBreached, SlaClock, SlaEscalated, SlaEvent, SlaOutcome, SlaStage, SlaWarning
from schemas.sla_rules import (
    Deadlines,
    calendar_for,
    deadlines_from,
    escalation_time,
    new_clock,
    target,
    tier_for,
)
from schemas.ticket import OPEN_STATUSES, Assignment, TicketRecord, TicketStatus

REOPENABLE = frozenset({TicketStatus.resolved, TicketStatus.closed})


@dataclass(frozen=True)
class ScheduledAlert:
    key: str
    ticket_id: str
    stage: SlaStage
    kind: str  # warning | breach | escalation
    fire_at: datetime
    due_at: datetime
    department: str
    round: int
    level: int = 0


class SlaBook:
    """The SLA policy and its calendar, bundled for the recorder, the store and the monitor."""

    def __init__(self, policy: RoutingPolicy) -> None:
        self.policy = policy
        self.sla = policy.sla
        self.calendar: BusinessCalendar = calendar_for(policy.sla)
        self._warnings: dict[tuple[datetime, datetime, bool], datetime] = {}
        self._held: dict[datetime, datetime] = {}
        self._escalations: dict[tuple[datetime, str], datetime] = {}
        self._last_windows: tuple[TicketRecord, tuple[StageWindow, ...]] | None = None

    def warning_at(self, start: datetime, due: datetime, business: bool) -> datetime:
        """When ``warning_share`` of the window is used (remembered: one write asks for it several times)."""
        key = (start, due, business)
        found = self._warnings.get(key)
        if found is None:
            if len(self._warnings) > 50_000:
                self._warnings.clear()
            found = warning_at(start, due, self.sla.warning_share, self.calendar, business=business)
            self._warnings[key] = found
        return found

    def held_at(self, moment: datetime) -> datetime:
        """``hold_until_working_time`` (remembered: deadlines fall on a few moments, shared by many)."""
        found = self._held.get(moment)
        if found is None:
            if len(self._held) > 50_000:
                self._held.clear()
            found = self._held[moment] = hold_until_working_time(moment, self.calendar)
        return found

    def escalation_at(self, due: datetime, after: str) -> datetime:
        """``escalation_time`` of a rung (remembered, like ``held_at``)."""
        found = self._escalations.get((due, after))
        if found is None:
            if len(self._escalations) > 50_000:
                self._escalations.clear()
            found = self._escalations[(due, after)] = escalation_time(due, after, self.calendar)
        return found

    def next_alert_at(self, record: TicketRecord) -> datetime | None:
        """When the ticket's next SLA alert fires (the due index's score); None when none is to come."""
        return min((a.fire_at for a in schedule(record, self)), default=None)

    def advance(self, old: TicketRecord | None, new: TicketRecord, event: Event) -> TicketRecord:
        clock = next_clock(old, new, event, self)
        return new if clock == new.sla else new.model_copy(update={"sla": clock})

    def schedule(self, record: TicketRecord) -> list[ScheduledAlert]:
        return schedule(record, self)

    def windows(self, record: TicketRecord) -> list[StageWindow]:
        """The ticket's open SLA stages (see ``open_windows``; the last answer is remembered, as a
        write asks for the same record's windows twice: its alerts and its read-model share)."""
        last = self._last_windows
        if last is not None and last[0] is record:  # records are frozen: the same object, the same answer
            return list(last[1])
        found = open_windows(record, self)
        self._last_windows = (record, tuple(found))
        return found


def _fresh(
    record: TicketRecord, at: datetime, book: SlaBook, round_: int, stamped: TicketRouted | None
) -> SlaClock:
    urgent = record.priority is Priority.urgent
    key = record.key_enterprise or record.key_project is not None
    tier = tier_for(book.sla, record.category, record.priority, key)
    if stamped is not None and stamped.accept_due_at and stamped.resolve_due_at and stamped.sla_tier:
        deadlines = Deadlines(stamped.sla_tier, stamped.accept_due_at, stamped.resolve_due_at)
    else:
        deadlines = deadlines_from(tier, at, book.calendar)
    return new_clock(deadlines, at, urgent, round_)


def _is_business(text: str) -> bool:
    return target(text).is_business


def next_clock(old: TicketRecord | None, new: TicketRecord, event: Event, book: SlaBook) -> SlaClock | None:
    """The ticket's SLA clock after ``event`` (``new`` is the record ``apply`` produced)."""
    clock = _moved_clock(old, new, event, book)
    if clock is None:
        return None
    return _with_outcomes(old, new, event, clock)


def _moved_clock(old: TicketRecord | None, new: TicketRecord, event: Event, book: SlaBook) -> SlaClock | None:
    clock = new.sla
    at = event.occurred_at
    if isinstance(event, TicketRouted | TicketDispatched):
        previous = old.sla if old is not None else None
        round_ = previous.round + 1 if previous is not None else 0
        carried = previous.emitted if previous is not None else ()
        fresh = _fresh(new, at, book, round_, event if isinstance(event, TicketRouted) else None)
        return fresh.model_copy(update={"emitted": carried})
    if clock is None:
        return None
    tier = book.sla.tier(clock.tier)
    if old is not None and old.status in REOPENABLE and new.status in OPEN_STATUSES and tier is not None:
        return clock.model_copy(
            update={
                "round": clock.round + 1,
                "resolve_started_at": at,
                "resolve_due_at": due_at(at, target(tier.resolve), book.calendar),
                "resolved_at": None,
                "breached": tuple(s for s in clock.breached if s is not SlaStage.resolve),
                "escalation_level": 0,
            }
        )
    lead_row = new.current_assignment(new.lead_department)
    if clock.accepted_at is None and lead_row is not None and lead_row.accepted_at is not None:
        clock = clock.model_copy(update={"accepted_at": lead_row.accepted_at})
    if isinstance(event, InformationRequested) and clock.paused_since is None:
        return clock.model_copy(update={"paused_since": at})
    if isinstance(event, InformationSupplied) and clock.paused_since is not None and tier is not None:
        return _resumed(clock, at, tier.accept, tier.resolve, book)
    if isinstance(event, TicketResolved):
        return clock.model_copy(update={"resolved_at": at})
    if isinstance(event, ExtensionApproved) and old is not None and old.pending_extension:
        moved = due_at(clock.resolve_due_at, target(old.pending_extension), book.calendar)
        return clock.model_copy(update={"resolve_due_at": moved, "extensions": clock.extensions + 1})
    return clock


# ---------------------------------------------------------------- outcomes (met / missed)


def outcomes_of(record: TicketRecord) -> tuple[SlaOutcome, ...]:
    """Every stage decided so far, all rounds; for records older than outcomes, read off the clock."""
    clock = record.sla
    if clock is None:
        return ()
    return clock.outcomes if clock.outcomes is not None else _legacy_outcomes(record, clock)


def _legacy_outcomes(record: TicketRecord, clock: SlaClock) -> tuple[SlaOutcome, ...]:
    """A record from before outcomes were kept: its current round, read off the clock."""
    if record.status is TicketStatus.triage:
        return ()
    out = []
    dept, round_ = record.lead_department, clock.round
    if SlaStage.accept in clock.breached:
        out.append(_missed(SlaStage.accept, dept, round_, clock.accept_due_at, clock.accept_due_at))
    elif clock.accepted_at is not None:
        out.append(_met(SlaStage.accept, dept, round_, clock.accept_due_at, clock.accepted_at))
    if SlaStage.resolve in clock.breached:
        out.append(_missed(SlaStage.resolve, dept, round_, clock.resolve_due_at, clock.resolve_due_at))
    elif clock.resolved_at is not None:
        out.append(_met(SlaStage.resolve, dept, round_, clock.resolve_due_at, clock.resolved_at))
    return tuple(out)


def _met(stage: SlaStage, department: str, round_: int, due: datetime, done: datetime) -> SlaOutcome:
    return SlaOutcome(
        stage=stage, department=department, round=round_, due_at=due, decided_at=done, met=done <= due
    )


def _missed(stage: SlaStage, department: str, round_: int, due: datetime, at: datetime) -> SlaOutcome:
    return SlaOutcome(stage=stage, department=department, round=round_, due_at=due, decided_at=at, met=False)


def _with_outcomes(old: TicketRecord | None, new: TicketRecord, event: Event, clock: SlaClock) -> SlaClock:
    """``clock`` with the outcome this event decided, if any: once per stage and round, never for triage."""
    decided = outcomes_of(old) if old is not None else ()
    before = old.sla if old is not None else None
    added: list[SlaOutcome] = []
    lead = new.lead_department
    if before is not None and before.round == clock.round and new.status is not TicketStatus.triage:
        if before.accepted_at is None and clock.accepted_at is not None:
            added.append(_met(SlaStage.accept, lead, clock.round, clock.accept_due_at, clock.accepted_at))
        if before.resolved_at is None and clock.resolved_at is not None:
            added.append(_met(SlaStage.resolve, lead, clock.round, clock.resolve_due_at, clock.resolved_at))
    if isinstance(event, SlaBreached) and old is not None and _breach_counts(old, event, clock):
        added.append(_missed(event.stage, event.department, event.round, event.due_at, event.occurred_at))
    seen = {(o.stage, o.round) for o in decided}
    outcomes = (*decided, *(o for o in added if (o.stage, o.round) not in seen))
    return clock if clock.outcomes == outcomes else clock.model_copy(update={"outcomes": outcomes})


def _breach_counts(old: TicketRecord, event: SlaBreached, clock: SlaClock) -> bool:
    """A breach decides its stage only while that stage is open for a lead, in the clock's round."""
    if old.sla is None or event.round != clock.round or old.status is TicketStatus.triage:
        return False
    return event.stage in {stage for stage, _start, _due in _open_stages(old, old.sla)}


def _resumed(clock: SlaClock, at: datetime, accept: str, resolve: str, book: SlaBook) -> SlaClock:
    assert clock.paused_since is not None
    since, cal = clock.paused_since, book.calendar
    paused = business_seconds_between(since, at, cal)
    updates: dict[str, object] = {
        "paused_since": None,
        "paused_seconds": clock.paused_seconds + paused,
        "resolve_due_at": shift_deadline(
            clock.resolve_due_at, since, at, cal, business=_is_business(resolve)
        ),
    }
    if clock.accepted_at is None:
        updates["accept_due_at"] = shift_deadline(
            clock.accept_due_at, since, at, cal, business=_is_business(accept)
        )
    return clock.model_copy(update=updates)


class SlaState(StrEnum):
    """Where an open stage stands at a moment: the one answer every view gives."""

    on_track = "on_track"
    at_risk = "at_risk"
    overdue = "overdue"

    @property
    def label(self) -> str:
        return {"on_track": "正常", "at_risk": "临期", "overdue": "超期"}[self.value]


@dataclass(frozen=True)
class StageWindow:
    """One open SLA stage: whose it is, when it becomes at risk and when it falls due.

    Everything here follows from the ticket alone (no ``now``), so the recorder
    can index it; ``state(now)`` turns it into overdue / at risk / on track.
    """

    ticket_id: str
    stage: SlaStage
    department: str
    escalation_level: int
    warn_at: datetime
    due_at: datetime

    @property
    def key(self) -> str:
        return f"{self.ticket_id}:{self.stage.value}"

    def state(self, now: datetime) -> SlaState:
        """Overdue once ``now`` is past the deadline; at risk from ``warn_at`` up to the deadline."""
        if now > self.due_at:
            return SlaState.overdue
        if now >= self.warn_at:
            return SlaState.at_risk
        return SlaState.on_track

    def status(self, now: datetime) -> StageStatus:
        late = max(0, int((now - self.due_at).total_seconds()))
        return StageStatus(
            self.ticket_id,
            self.stage,
            self.department,
            self.escalation_level,
            self.due_at,
            self.state(now),
            late,
        )


@dataclass(frozen=True)
class StageStatus:
    """An open stage judged at one moment; ``late_seconds`` is wall-clock time past the deadline."""

    ticket_id: str
    stage: SlaStage
    department: str
    escalation_level: int
    due_at: datetime
    state: SlaState
    late_seconds: int

    @property
    def overdue(self) -> bool:
        return self.state is SlaState.overdue


CLOCKED_STATUSES = frozenset({*OPEN_STATUSES, TicketStatus.triage})
"""Statuses whose clocks run. Not ``rerouting``: the bounce released the lead, the router answers
within seconds and the next lead starts with fresh clocks. Not resolved or closed."""


def _open_stages(record: TicketRecord, clock: SlaClock) -> list[tuple[SlaStage, datetime, datetime]]:
    """(stage, clock start, due) of the stages whose clocks run now (none while paused)."""
    if clock.paused_since is not None or record.status not in CLOCKED_STATUSES:
        return []
    stages = []
    if clock.accepted_at is None and record.status in (TicketStatus.routed, TicketStatus.triage):
        stages.append((SlaStage.accept, clock.accept_started_at, clock.accept_due_at))
    if clock.resolved_at is None:
        stages.append((SlaStage.resolve, clock.resolve_started_at, clock.resolve_due_at))
    return stages


def _stage_target(book: SlaBook, clock: SlaClock, stage: SlaStage) -> str:
    tier = book.sla.tier(clock.tier)
    if tier is None:
        return "1 working day"
    return tier.accept if stage is SlaStage.accept else tier.resolve


def in_business_time(clock: SlaClock, stage: SlaStage, book: SlaBook) -> bool:
    """Whether the stage's target counts working time ("1 working day") or the wall clock ("2 hours")."""
    return _is_business(_stage_target(book, clock, stage))


def open_windows(record: TicketRecord, book: SlaBook) -> list[StageWindow]:
    """The ticket's open SLA stages, each with its warning moment and deadline.

    - accept (签收) runs until the lead accepts; in ``triage`` it is the office's
      time to dispatch, so a triage ticket counts against the office;
    - resolve (办结) runs until the lead resolves;
    - nothing runs while the ticket awaits the enterprise (paused), while it is
      ``rerouting`` (no department holds it), or once it is resolved or closed.

    At risk (临期) starts when the policy's ``warning_share`` of the window is
    used — in business time for business-time targets ("1 working day"), in
    wall-clock time for wall-clock targets ("2 hours"): the moment the monitor's
    SlaWarning is due (before it is held for working hours). An urgent ticket in
    triage is at risk from the start: the office hears of it at once.
    """
    clock = record.sla
    if clock is None:
        return []
    out = []
    for stage, start, due in _open_stages(record, clock):
        warn = book.warning_at(start, due, _is_business(_stage_target(book, clock, stage)))
        if clock.urgent and stage is SlaStage.accept and record.status is TicketStatus.triage:
            warn = start  # urgent never waits: the office is warned the moment it lands in triage
        out.append(
            StageWindow(record.ticket_id, stage, record.lead_department, clock.escalation_level, warn, due)
        )
    return out


def sla_status(record: TicketRecord, book: SlaBook, now: datetime) -> list[StageStatus]:
    """The one SLA status rule: every open stage of ``record`` judged at ``now``.

    The monitor, ``ztc overdue``, ``ztc ticket show``, the dashboard and ``/metrics``
    all answer from this: the read model indexes ``open_windows`` and its queries
    compare the same way (``consumers.views``), so no two of them can disagree.
    """
    return [window.status(now) for window in open_windows(record, book)]


def deadline_status(record: TicketRecord, book: SlaBook, now: datetime) -> list[StageStatus]:
    """Overdue and at-risk stages of one ticket at ``now`` (empty when on track or done)."""
    return [s for s in sla_status(record, book, now) if s.state is not SlaState.on_track]


def working_time(record: TicketRecord, book: SlaBook, now: datetime) -> list[tuple[Assignment, int]]:
    """Working (business) seconds of each assignment row: to done, released, or ``now`` while open."""
    finished = record.status in REOPENABLE
    out = []
    for row in record.assignments:
        end = row.done_at or row.released_at or (None if finished else now)
        end = end or record.resolved_at or record.updated_at
        out.append((row, round(business_seconds_between(row.assigned_at, end, book.calendar))))
    return out


def schedule(record: TicketRecord, book: SlaBook) -> list[ScheduledAlert]:
    """Every SLA event still to come for this ticket, in no particular order."""
    clock = record.sla
    if clock is None:
        return []
    out: list[ScheduledAlert] = []
    hold = book.sla.hold_outside_working_hours and not clock.urgent

    def held(moment: datetime) -> datetime:
        return book.held_at(moment) if hold else moment

    for window in book.windows(record):
        stage, due = window.stage, window.due_at
        items = [("warning", 0, held(window.warn_at)), ("breach", 0, due)]
        items += [
            (f"escalation{rung.level}", rung.level, held(book.escalation_at(due, rung.after)))
            for rung in book.sla.escalation
        ]
        for kind, level, fire_at in items:
            key = f"{record.ticket_id}:{stage.value}:{kind}:{clock.round}"
            if key in clock.emitted:
                continue
            out.append(
                ScheduledAlert(
                    key=key,
                    ticket_id=record.ticket_id,
                    stage=stage,
                    kind="escalation" if level else kind,
                    fire_at=fire_at,
                    due_at=due,
                    department=record.lead_department,
                    round=clock.round,
                    level=level,
                )
            )
    return out


def alert_event(alert: ScheduledAlert, book: SlaBook, now: datetime) -> SlaEvent:
    """The event the monitor publishes for a due alert; its id is derived from the key."""
    common = {
        "event_id": derived_event_id("sla", alert.key),
        "ticket_id": alert.ticket_id,
        "occurred_at": now,
        "stage": alert.stage,
        "department": alert.department,
        "due_at": alert.due_at,
        "round": alert.round,
        "key": alert.key,
    }
    if alert.kind == "warning":
        return SlaWarning(**common, share=book.sla.warning_share)
    if alert.kind == "breach":
        return SlaBreached(**common)
    rung = next(r for r in book.sla.escalation if r.level == alert.level)
    return SlaEscalated(
        **common, level=rung.level, level_name=rung.name, level_label=rung.label, notify=rung.notify
    )
