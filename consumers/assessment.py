"""Department assessment (考核): the 12345 rates, a fair ranking, red and black lists — pure.

From a period's day counters (``consumers.read_model``) and the policy:

- each department's callback (回访) tallies per kind, made into the three rates and
  the composite score by the policy's ``[rates]`` (``schemas.callback_rates``);
- beside them its on-time accept / resolve rates (``consumers.supervision``), its
  bounce rate 退单率 (bounces / tickets engaged) and redo rate 重办率 (resolved
  rounds reopened / rounds resolved);
- every figure charged to the department that held the ticket in that round: the
  read model counts a callback to the lead whose resolution it rated, a bounce to
  the bouncer, a redo to the lead of the reopened round;
- ranked by the policy's ``[ranking]``: only departments with at least
  ``min_tickets`` valid callbacks, graded by department kind when asked, best
  composite first (ties: on-time resolve rate, then more callbacks), and the red
  list 红榜 / black list 黑榜 of each grade.

No clock, no Redis: ``consumers.views`` reads the counters and hands them over.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from consumers import read_model as rm
from consumers.supervision import DepartmentFigures, department_figures
from schemas.callback_rates import CallbackKind, CallbackRates, CallbackTally, rates_of, valid_tally
from schemas.policy import DepartmentKind, RoutingPolicy

GRADE_LABELS = {
    "street": "街道 Street offices",
    "bureau": "区直部门 Bureaus",
    "all": "全部部门 All departments",
}
NOT_RANKED = "不参与排名 not ranked (policy)"


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


@dataclass
class RoundCounts:
    """What one department's counters hold beyond ``DepartmentFigures``."""

    tallies: dict[CallbackKind, CallbackTally] = field(default_factory=dict)
    bounced: int = 0
    rounds_done: int = 0
    redone: int = 0


def round_counts(days: Iterable[Mapping[str, int]]) -> dict[str, RoundCounts]:
    """Per department: callback tallies by kind, bounces, rounds resolved and redone."""
    out: dict[str, RoundCounts] = defaultdict(RoundCounts)
    simple = {rm.BOUNCED: "bounced", rm.ROUNDS_DONE: "rounds_done", rm.REDONE: "redone"}
    for counters in days:
        for name, n in counters.items():
            kind, _, rest = name.partition("|")
            if kind != "d":
                continue
            department, _, counter = rest.rpartition("|")
            if counter in simple:
                one = out[department]
                setattr(one, simple[counter], getattr(one, simple[counter]) + n)
            elif counter.startswith(rm.CALLBACK + ":"):
                _, code, measure = counter.split(":", 2)
                if measure in rm.CALLBACK_MEASURES:
                    tallies = out[department].tallies
                    callback_kind = CallbackKind.from_code(code)
                    before = tallies.get(callback_kind, CallbackTally())
                    tallies[callback_kind] = before + CallbackTally.model_validate({measure: n})
    return dict(out)


@dataclass(frozen=True)
class DepartmentAssessment:
    """One department in one period: the 12345 rates, on-time rates, bounces, redo and its place."""

    figures: DepartmentFigures
    callbacks: CallbackRates
    bounced: int
    rounds_done: int
    redone: int
    grade: str
    rank: int | None = None
    unranked_reason: str | None = None

    @property
    def department(self) -> str:
        return self.figures.department

    @property
    def composite(self) -> float | None:
        return self.callbacks.composite

    @property
    def bounce_rate(self) -> float | None:
        return _rate(self.bounced, self.figures.tickets)

    @property
    def redo_rate(self) -> float | None:
        return _rate(self.redone, self.rounds_done)


@dataclass(frozen=True)
class Grade:
    """One ranking table (分类排名): ranked best first, the unranked below, the red and black lists."""

    name: str
    ranked: tuple[DepartmentAssessment, ...]
    unranked: tuple[DepartmentAssessment, ...]
    red: tuple[DepartmentAssessment, ...]
    black: tuple[DepartmentAssessment, ...]

    @property
    def label(self) -> str:
        return GRADE_LABELS.get(self.name, self.name)


@dataclass(frozen=True)
class Assessment:
    grades: tuple[Grade, ...]
    district: CallbackRates
    """The rates over every valid callback of the period (the district's own figures)."""
    departments: tuple[DepartmentAssessment, ...]

    def of(self, department: str) -> DepartmentAssessment | None:
        return next((d for d in self.departments if d.department == department), None)


def grade_of(policy: RoutingPolicy, department: str) -> str:
    if not policy.ranking.grade_by_kind:
        return "all"
    known = policy.department(department)
    return "street" if known is not None and known.kind is DepartmentKind.street else "bureau"


def _sort_key(one: DepartmentAssessment) -> tuple[float, float, int, str]:
    on_time = one.figures.resolution_rate
    return (-(one.composite or 0.0), -(on_time or 0.0), -one.callbacks.valid, one.department)


def _grade(name: str, members: list[DepartmentAssessment], policy: RoutingPolicy) -> Grade:
    ranking = policy.ranking
    never = set(ranking.unranked)
    eligible = [m for m in members if m.department not in never and m.callbacks.valid >= ranking.min_tickets]
    ranked = tuple(replace(m, rank=place) for place, m in enumerate(sorted(eligible, key=_sort_key), start=1))
    chosen = {m.department for m in eligible}
    short = f"样本不足 fewer than {ranking.min_tickets} valid callbacks"
    unranked = tuple(
        replace(m, unranked_reason=NOT_RANKED if m.department in never else short)
        for m in sorted(members, key=lambda m: m.department)
        if m.department not in chosen
    )
    size = ranking.list_size
    red = ranked[: min(size, (len(ranked) + 1) // 2)]  # a short table splits: no one is on both lists
    black = tuple(m for m in reversed(ranked[len(red) :]))[:size]
    return Grade(name, ranked, unranked, red, black)


def assess(
    days: Iterable[Mapping[str, int]],
    policy: RoutingPolicy,
    overdue_now: Mapping[str, int] | None = None,
) -> Assessment:
    """Every department with figures in the period, assessed and ranked by the policy."""
    days = list(days)
    figures = department_figures(days, overdue_now)
    counts = round_counts(days)
    district = CallbackTally()
    members: dict[str, list[DepartmentAssessment]] = defaultdict(list)
    for department in sorted(set(figures) | set(counts)):
        one = counts.get(department, RoundCounts())
        valid = valid_tally(one.tallies, policy.rates)
        district = district + valid
        assessed = DepartmentAssessment(
            figures=figures.get(department, DepartmentFigures(department)),
            callbacks=rates_of(valid, policy.rates),
            bounced=one.bounced,
            rounds_done=one.rounds_done,
            redone=one.redone,
            grade=grade_of(policy, department),
        )
        members[assessed.grade].append(assessed)
    order = [g for g in ("bureau", "street", "all") if g in members]
    grades = tuple(_grade(name, members[name], policy) for name in order)
    everyone = tuple(m for g in grades for m in (*g.ranked, *g.unranked))
    return Assessment(grades, rates_of(district, policy.rates), everyone)
