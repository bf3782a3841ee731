"""The read model reports use: what one recorded ticket contributes, and the queries over the sum.

Reports never read every ticket. The ticket stores keep, next to each ticket and
in the same transaction as its write, the sum over all tickets of
``contribution(record, book)``:

- **open tickets** per lead department (not resolved or closed);
- **stage indexes** per (lead department, escalation level): every open SLA stage
  (``sla_engine.open_windows``) by its deadline and by its warning moment, so
  "overdue now" and "at risk now" are range counts at any ``now``; plus each
  ticket's first open deadline per department (overdue *tickets*) and each
  stage's lead (deadline − warning), which bounds the at-risk range query;
- **day counters** (district-zone day of what happened): tickets routed per
  category, and per department tickets engaged and led, response and handling
  times, accept / resolve deadlines met or missed (``sla_engine.outcomes_of``),
  and ratings.

A write removes the old record's contribution and adds the new one's. A
duplicate or refused event writes nothing, a WATCH retry recomputes from the
record it re-read, so nothing ever counts twice; and because every figure is a
pure function of the record, ``ztc reindex`` (sum over the stored tickets)
rebuilds exactly what the increments built.

``ReportSource`` is what ``consumers.views`` reads; ``InMemoryReadModel`` is
the in-memory adapter (the Redis one is ``consumers.redis_read_model``); both
pass ``tests/unit/store_contract.py``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from consumers.sla_engine import SlaBook, SlaState, StageStatus, StageWindow, outcomes_of
from schemas.callback_rates import CallbackKind, kind_code
from schemas.events import DISTRICT_ZONE
from schemas.feedback import Rating
from schemas.sla import SlaStage
from schemas.ticket import AssignmentRole, RatingRecord, TicketRecord, TicketStatus

FINISHED = frozenset({TicketStatus.resolved, TicketStatus.closed})
Group = tuple[str, int]
"""(lead department, escalation level): how the dashboard groups overdue and at-risk stages."""
DayField = tuple[date, str]

# Day-counter fields of one department: ``d|{department}|{name}``.
TICKETS = "tickets"  # first engaged as lead or co-department (day assigned)
LED = "led"  # first assigned as lead (day assigned)
RESPONSE_DUE = "response_due"  # accept deadlines decided (met or missed), day decided
RESPONSE_MET = "response_met"
RESOLUTION_DUE = "resolution_due"  # resolve deadlines decided
RESOLUTION_MET = "resolution_met"
RATED = "rated"  # ratings of the lead's resolution, one field per rating too (satisfied, ...)
RESPONSE_N = "response_n"  # assignment rows accepted, and their seconds from assigned to accepted
RESPONSE_S = "response_s"
HANDLING_N = "handling_n"  # assignment rows done, and their seconds from assigned to done
HANDLING_S = "handling_s"
BOUNCED = "bounced"  # 退单 by the department (lead or co), day bounced
ROUNDS_DONE = "rounds_done"  # lead rounds resolved (day resolved): what a redo rate divides by
REDONE = "redone"  # 重办: a resolved round reopened, charged to that round's lead (day reopened)
CALLBACK = "cb"  # 回访 per kind: ``cb:{kind code}:{measure}`` (schemas.callback_rates.CallbackKind)
CALLBACK_MEASURES = ("callbacks", "contacted", "resolved", "satisfied", "basically_satisfied")


def department_field(department: str, name: str) -> str:
    return f"d|{department}|{name}"


def category_field(category: str) -> str:
    """Day-counter field: tickets first routed that day in ``category``."""
    return f"c|{category}"


def local_day(moment: datetime) -> date:
    return moment.astimezone(DISTRICT_ZONE).date()


# ---------------------------------------------------------------- what one ticket contributes (pure)


@dataclass(frozen=True)
class Contribution:
    """One ticket's share of the read model."""

    open_department: str | None = None
    windows: tuple[StageWindow, ...] = ()
    counters: dict[DayField, int] = field(default_factory=dict)

    @property
    def first_window(self) -> StageWindow | None:
        """The open stage due first (the ticket is overdue once it is), if any stage is open."""
        return first_window(self.windows)


NOTHING = Contribution()


def first_window(windows: Iterable[StageWindow]) -> StageWindow | None:
    """The stage due first among one ticket's open stages (ties: by stage name), if any."""
    return min(windows, key=lambda w: (w.due_at, w.stage.value), default=None)


def contribution(record: TicketRecord | None, book: SlaBook | None) -> Contribution:
    """What ``record`` adds to the read model (stage indexes only when the store keeps SLA clocks)."""
    if record is None:
        return NOTHING
    windows = tuple(book.windows(record)) if book is not None else ()
    opened = record.lead_department if record.status not in FINISHED else None
    return Contribution(opened, windows, counters_of(record))


def _seconds(start: datetime, end: datetime) -> int:
    return round((end - start).total_seconds())


def rated_department(record: TicketRecord, rating: RatingRecord) -> str:
    """The lead whose resolution was rated: the last lead row done by the rating."""
    done = [
        row
        for row in record.assignments
        if row.role is AssignmentRole.lead and row.done_at is not None and row.done_at <= rating.at
    ]
    return max(done, key=lambda r: r.done_at or rating.at).department if done else record.lead_department


def counters_of(record: TicketRecord) -> dict[DayField, int]:
    """Every day counter this ticket adds, keyed by (district-zone day, field)."""
    out: Counter[DayField] = Counter()
    out[(local_day(record.routed_at), category_field(record.category))] += 1
    engaged: set[str] = set()
    led: set[str] = set()
    for row in record.assignments:
        if row.role is AssignmentRole.triage:
            continue
        dept = row.department
        assigned = local_day(row.assigned_at)
        if dept not in engaged:
            engaged.add(dept)
            out[(assigned, department_field(dept, TICKETS))] += 1
        if row.role is AssignmentRole.lead and dept not in led:
            led.add(dept)
            out[(assigned, department_field(dept, LED))] += 1
        if row.accepted_at is not None:
            day = local_day(row.accepted_at)
            out[(day, department_field(dept, RESPONSE_N))] += 1
            out[(day, department_field(dept, RESPONSE_S))] += _seconds(row.assigned_at, row.accepted_at)
        if row.done_at is not None:
            day = local_day(row.done_at)
            out[(day, department_field(dept, HANDLING_N))] += 1
            out[(day, department_field(dept, HANDLING_S))] += _seconds(row.assigned_at, row.done_at)
    for outcome in outcomes_of(record):
        due, met = (
            (RESPONSE_DUE, RESPONSE_MET)
            if outcome.stage is SlaStage.accept
            else (RESOLUTION_DUE, RESOLUTION_MET)
        )
        day = local_day(outcome.decided_at)
        out[(day, department_field(outcome.department, due))] += 1
        out[(day, department_field(outcome.department, met))] += outcome.met
    for rating in record.ratings:
        dept, day = rated_department(record, rating), local_day(rating.at)
        out[(day, department_field(dept, RATED))] += 1
        out[(day, department_field(dept, rating.rating.value))] += 1
        for measure, n in callback_counts(record, rating).items():
            out[(day, department_field(dept, measure))] += n
    _add_round_counters(record, out)
    return {key: n for key, n in out.items() if n}


def callback_field(kind: CallbackKind | str, measure: str) -> str:
    """``cb:{kind code}:{measure}``; ``kind`` a ``CallbackKind`` or its code."""
    code = kind if isinstance(kind, str) else kind.code
    return f"{CALLBACK}:{code}:{measure}"


def callback_counts(record: TicketRecord, rating: RatingRecord) -> dict[str, int]:
    """One 回访's counters under its kind (rater, final answer, ticket excluded): the policy picks
    the valid kinds when a report is read, so changing ``[rates]`` needs no reindex."""
    code = kind_code(rating.rated_by, final_answer=rating.final_answer, excluded=record.excluded_from_rates)
    prefix = f"{CALLBACK}:{code}:"
    return {
        prefix + "callbacks": 1,
        prefix + "contacted": int(rating.was_contacted),
        prefix + "resolved": int(rating.problem_solved),
        prefix + "satisfied": int(rating.rating is Rating.satisfied),
        prefix + "basically_satisfied": int(rating.rating is Rating.basically_satisfied),
    }


def _add_round_counters(record: TicketRecord, out: Counter[DayField]) -> None:
    """Bounces, lead rounds resolved and rounds redone, each charged to the department of that round."""
    for bounce in record.bounces:
        out[(local_day(bounce.at), department_field(bounce.department, BOUNCED))] += 1
    leads = [row for row in record.assignments if row.role is AssignmentRole.lead]
    for index, row in enumerate(leads):
        following = leads[index + 1] if index + 1 < len(leads) else None
        if row.done_at is None:
            continue
        out[(local_day(row.done_at), department_field(row.department, ROUNDS_DONE))] += 1
        if following is not None:
            out[(local_day(following.assigned_at), department_field(row.department, REDONE))] += 1


def counter_changes(old: Contribution, new: Contribution) -> dict[DayField, int]:
    """new − old, without the zeros: the increments one write makes."""
    keys = set(old.counters) | set(new.counters)
    changes = {k: new.counters.get(k, 0) - old.counters.get(k, 0) for k in keys}
    return {k: n for k, n in changes.items() if n}


def group_of(window: StageWindow) -> Group:
    return window.department, window.escalation_level


def lead_seconds(window: StageWindow) -> float:
    return (window.due_at - window.warn_at).total_seconds()


# ---------------------------------------------------------------- queries


@dataclass(frozen=True)
class StageCounts:
    overdue: int = 0
    at_risk: int = 0


class ReportSource(Protocol):
    """The read model's queries (``consumers.views`` composes them into reports)."""

    def open_counts(self) -> dict[str, int]:
        """Open tickets per lead department (departments with none left out)."""
        ...

    def groups(self) -> list[Group]:
        """Every (department, level) that holds an open stage."""
        ...

    def stage_counts(self, groups: Sequence[Group], now: datetime) -> dict[Group, StageCounts]:
        """Overdue (deadline < now) and at-risk (warning ≤ now ≤ deadline) stages per group."""
        ...

    def overdue_tickets(self, departments: Sequence[str], now: datetime) -> dict[str, int]:
        """Tickets with at least one overdue stage, per lead department."""
        ...

    def stages(
        self, groups: Sequence[Group], now: datetime, limit: int | None = None
    ) -> tuple[dict[Group, list[StageStatus]], dict[Group, list[StageStatus]]]:
        """(overdue, at risk) stages per group, soonest deadline first; at most ``limit`` of each."""
        ...

    def day_counts(self, days: Sequence[date]) -> dict[date, dict[str, int]]:
        """The day counters of each day (days without any left out)."""
        ...


def indexed_status(
    ticket_stage: str, group: Group, due: datetime, state: SlaState, now: datetime
) -> StageStatus:
    """A stage as the indexes know it (member ``ticket:stage``), judged at ``now``."""
    ticket_id, stage = ticket_stage.rsplit(":", 1)
    late = max(0, int((now - due).total_seconds()))
    return StageStatus(ticket_id, SlaStage(stage), group[0], group[1], due, state, late)


@dataclass
class InMemoryReadModel:
    """The read model in dictionaries, for unit tests; same answers as Redis."""

    open: Counter[str] = field(default_factory=Counter)
    windows: dict[str, StageWindow] = field(default_factory=dict)
    """``ticket:stage`` → its open window"""
    days: defaultdict[date, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def replace(self, old: Contribution, new: Contribution) -> None:
        """Take ``old`` out and put ``new`` in (one ticket's write)."""
        if old.open_department is not None:
            self.open[old.open_department] -= 1
        if new.open_department is not None:
            self.open[new.open_department] += 1
        for window in old.windows:
            self.windows.pop(window.key, None)
        for window in new.windows:
            self.windows[window.key] = window
        for (day, name), n in counter_changes(old, new).items():
            self.days[day][name] += n

    def add(self, contributions: Iterable[Contribution]) -> None:
        for one in contributions:
            self.replace(NOTHING, one)

    def open_counts(self) -> dict[str, int]:
        return {dept: n for dept, n in self.open.items() if n > 0}

    def groups(self) -> list[Group]:
        return sorted({group_of(w) for w in self.windows.values()})

    def _in(self, groups: Sequence[Group]) -> list[StageWindow]:
        wanted = set(groups)
        return [w for w in self.windows.values() if group_of(w) in wanted]

    def stage_counts(self, groups: Sequence[Group], now: datetime) -> dict[Group, StageCounts]:
        counts: dict[Group, Counter[SlaState]] = {g: Counter() for g in groups}
        for window in self._in(groups):
            counts[group_of(window)][window.state(now)] += 1
        return {g: StageCounts(c[SlaState.overdue], c[SlaState.at_risk]) for g, c in counts.items()}

    def overdue_tickets(self, departments: Sequence[str], now: datetime) -> dict[str, int]:
        late: dict[str, set[str]] = {d: set() for d in departments}
        for window in self.windows.values():
            if window.department in late and window.state(now) is SlaState.overdue:
                late[window.department].add(window.ticket_id)
        return {d: len(ids) for d, ids in late.items()}

    def stages(
        self, groups: Sequence[Group], now: datetime, limit: int | None = None
    ) -> tuple[dict[Group, list[StageStatus]], dict[Group, list[StageStatus]]]:
        overdue: dict[Group, list[StageStatus]] = {g: [] for g in groups}
        at_risk: dict[Group, list[StageStatus]] = {g: [] for g in groups}
        for window in sorted(self._in(groups), key=lambda w: (w.due_at, w.key)):
            status = window.status(now)
            if status.state is SlaState.overdue:
                overdue[group_of(window)].append(status)
            elif status.state is SlaState.at_risk:
                at_risk[group_of(window)].append(status)
        if limit is not None:
            overdue = {g: items[:limit] for g, items in overdue.items()}
            at_risk = {g: items[:limit] for g, items in at_risk.items()}
        return overdue, at_risk

    def day_counts(self, days: Sequence[date]) -> dict[date, dict[str, int]]:
        return {
            d: {k: n for k, n in self.days[d].items() if n}
            for d in days
            if any(self.days.get(d, {}).values())
        }
