"""Business calendar and SLA deadline arithmetic for the enterprise-service desk.

Pure rules: nothing here reads the clock, the environment or the network; every
moment is an argument. All results are timezone-aware in the calendar's zone
(Asia/Shanghai by default).

Sources for "is this date a working day", in order of precedence:

1. explicit ``workdays`` / ``holidays`` overrides carried by the policy (the State
   Council's yearly notice, once published, for a year the package does not know);
2. the ``chinese_calendar`` package: the published schedules, public holidays and
   调休 make-up workdays (2004-2026 in version 1.11.0);
3. past that data, Monday-Friday less the statutory days off of
   《全国年节及纪念日放假办法》 (``schemas.statutory_holidays``: the festivals' days,
   lunar dates computed, and 补假 for those on a weekend). Only the make-up working
   days and bridging days of such a year are unknown. Such a year is recorded in
   :attr:`BusinessCalendar.uncovered_years_seen` (no warning is raised: the pure core
   says nothing on its own; ``ztc`` prints one line). A year counts as covered by the
   overrides as soon as any override date falls in it.

Counting rules:

* ``working_days``: the day of receipt is not counted; N working days from any
  moment on day D fall due at the end of the last working period of the N-th
  working day after D (the legal way of counting 期限).
* ``hours`` / ``minutes`` / ``seconds``: wall-clock addition.
* ``business_hours``: counted only inside working periods on working days.

Working periods are closed for membership tests: the end of a period (17:30)
counts as working time, so a deadline is always a working moment and an alert
fired exactly at a deadline is not held overnight.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from schemas.statutory_holidays import REGULATION, statutory_days_off
from schemas.time_limits import SlaTarget, TargetUnit, parse_target

__all__ = [
    "DEFAULT_WORKING_PERIODS",
    "SHANGHAI",
    "BusinessCalendar",
    "SlaTarget",
    "TargetUnit",
    "add_business_seconds",
    "business_seconds_between",
    "due_at",
    "hold_until_working_time",
    "parse_target",
    "schedule_ends",
    "schedule_notice",
    "shift_deadline",
    "warning_at",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
WorkingPeriod = tuple[time, time]
DEFAULT_WORKING_PERIODS: tuple[WorkingPeriod, ...] = (
    (time(8, 30), time(12, 0)),
    (time(13, 30), time(17, 30)),
)
MAX_CLOSED_DAYS = 366
_ONE_DAY = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)


# --------------------------------------------------------------------------- calendar


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Working days and working periods of the desk, with overrides and a cache."""

    working_periods: Sequence[WorkingPeriod] = DEFAULT_WORKING_PERIODS
    holidays: AbstractSet[date] = frozenset()
    workdays: AbstractSet[date] = frozenset()
    zone: ZoneInfo = SHANGHAI
    _cache: dict[date, bool] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)
    _uncovered: set[int] = field(default_factory=set, init=False, repr=False, compare=False, hash=False)
    _after: dict[tuple[date, int], date] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    _periods: dict[date, list[tuple[datetime, datetime]]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        periods = tuple((start, end) for start, end in self.working_periods)
        _validate_periods(periods)
        object.__setattr__(self, "working_periods", periods)
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        clash = self.holidays & self.workdays
        if clash:
            raise ValueError(f"dates declared both holiday and workday: {sorted(clash)}")

    @classmethod
    def default(cls) -> BusinessCalendar:
        """Asia/Shanghai, 08:30-12:00 and 13:30-17:30, package holidays only."""
        return cls()

    @property
    def uncovered_years_seen(self) -> frozenset[int]:
        """Years answered by the statutory holidays alone so far (make-up working days unknown)."""
        return frozenset(self._uncovered)

    @property
    def working_day_seconds(self) -> int:
        """Business seconds in one full working day."""
        return sum(_seconds_of(start, end) for start, end in self.working_periods)

    def is_workday(self, d: date) -> bool:
        """Whether ``d`` is a working day (overrides, then package, then Mon-Fri)."""
        cached = self._cache.get(d)
        if cached is None:
            cached = self._cache[d] = self._resolve_workday(d)
        return cached

    def is_working_time(self, t: datetime) -> bool:
        """Whether ``t`` lies inside a working period (ends included) of a workday."""
        local = self.local(t)
        if not self.is_workday(local.date()):
            return False
        moment = local.time()
        return any(start <= moment <= end for start, end in self.working_periods)

    def next_working_moment(self, t: datetime) -> datetime:
        """``t`` itself if it is working time, else the start of the next period."""
        if self.is_working_time(t):
            return self.local(t)
        start, _ = next(self.working_intervals(t))
        return self.local(start)

    def working_days_after(self, d: date, n: int) -> date:
        """The ``n``-th working day after ``d`` (``d`` itself is never counted)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        found = self._after.get((d, n))
        if found is not None:
            return found
        day = d
        for _ in range(n):
            day = self._next_workday(day)
        if len(self._after) > 4096:  # a router runs for years: keep the memo small
            self._after.clear()
        self._after[(d, n)] = day
        return day

    def end_of_working_day(self, d: date) -> datetime:
        """End of the last working period on ``d``, in the calendar's zone."""
        return datetime.combine(d, self.working_periods[-1][1], tzinfo=self.zone)

    def local(self, t: datetime) -> datetime:
        """``t`` converted to the calendar's zone; naive datetimes are rejected."""
        return _require_aware(t).astimezone(self.zone)

    def working_intervals(self, after: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals in UTC ending after ``after``, clipped to start there."""
        floor = _utc(after)
        day = self.local(after).date()
        while True:
            for start, end in self._utc_periods(day):
                if end > floor:
                    yield max(start, floor), end
            day = self._next_workday(day)

    def _utc_periods(self, d: date) -> list[tuple[datetime, datetime]]:
        found = self._periods.get(d)
        if found is None:
            if len(self._periods) > 20_000:
                self._periods.clear()
            found = self._periods[d] = self._resolve_periods(d)
        return found

    def _resolve_periods(self, d: date) -> list[tuple[datetime, datetime]]:
        if not self.is_workday(d):
            return []
        return [
            (_utc(datetime.combine(d, s, self.zone)), _utc(datetime.combine(d, e, self.zone)))
            for s, e in self.working_periods
        ]

    def _next_workday(self, d: date) -> date:
        day = d
        for _ in range(MAX_CLOSED_DAYS):
            day += _ONE_DAY
            if self.is_workday(day):
                return day
        raise ValueError(f"no working day within {MAX_CLOSED_DAYS} days after {d}")

    def _resolve_workday(self, d: date) -> bool:
        if d in self.workdays:
            return True
        if d in self.holidays:
            return False
        if d.year <= PACKAGE_LAST_YEAR:
            try:
                return bool(chinese_calendar.is_workday(d))
            except NotImplementedError:  # before the package's first year
                pass
        return self._statutory_workday(d)

    def _statutory_workday(self, d: date) -> bool:
        if not self.declares_year(d.year):
            self._uncovered.add(d.year)
        return d.weekday() < 5 and d not in statutory_days_off(d.year)

    def declares_year(self, year: int) -> bool:
        """Whether the policy's overrides give ``year``'s schedule (any override date in it)."""
        return any(d.year == year for d in self.holidays | self.workdays)


def _package_last_year() -> int:
    """The last year ``chinese_calendar`` has a published schedule for (2026 in 1.11.0)."""
    latest: date = max(chinese_calendar.holidays)
    year = latest.year
    while True:
        try:
            chinese_calendar.is_workday(date(year + 1, 1, 1))
        except NotImplementedError:
            return year
        year += 1


PACKAGE_LAST_YEAR = _package_last_year()
SCHEDULE_NOTICE_DAYS = 90


def schedule_ends(calendar: BusinessCalendar) -> date:
    """The last day of the published schedule: the package's data, or the policy's overrides if later."""
    declared = max((d.year for d in calendar.holidays | calendar.workdays), default=PACKAGE_LAST_YEAR)
    return date(max(PACKAGE_LAST_YEAR, declared), 12, 31)


def schedule_notice(
    calendar: BusinessCalendar, today: date, within_days: int = SCHEDULE_NOTICE_DAYS
) -> str | None:
    """One line when the published schedule ends within ``within_days`` of ``today`` (or has ended)."""
    ends = schedule_ends(calendar)
    left = (ends - today).days
    if left > within_days:
        return None
    when = f"还有 {left} 天 in {left} days" if left >= 0 else f"已过 {-left} 天 ended {-left} days ago"
    return (
        f"注意 note: 节假日安排数据截至 {ends.isoformat()}（{when}），其后按{REGULATION}推算法定假日，"
        "调休上班日未知，请把国务院当年通知写入政策 [sla] holidays / workdays / the published holiday "
        f"schedule ends {ends.isoformat()}; after it only the statutory holidays apply and make-up "
        "working days are unknown: add the State Council's notice to the policy's [sla] holidays/workdays"
    )


def _validate_periods(periods: tuple[WorkingPeriod, ...]) -> None:
    if not periods:
        raise ValueError("at least one working period is required")
    previous_end: time | None = None
    for start, end in periods:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError("working periods are local wall-clock times without tzinfo")
        if not start < end:
            raise ValueError(f"working period must start before it ends: {start}-{end}")
        if previous_end is not None and start < previous_end:
            raise ValueError("working periods must be sorted and must not overlap")
        previous_end = end


def _seconds_of(start: time, end: time) -> int:
    anchor = date(2000, 1, 1)
    return int((datetime.combine(anchor, end) - datetime.combine(anchor, start)).total_seconds())


def _require_aware(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime not allowed, give a timezone: {t!r}")
    return t


def _utc(t: datetime) -> datetime:
    return _require_aware(t).astimezone(UTC)


# --------------------------------------------------------------------------- targets
# The grammar of a target (``SlaTarget``, ``parse_target``) is in ``schemas.time_limits``.

_WALL_CLOCK_SECONDS = {TargetUnit.HOURS: 3600, TargetUnit.MINUTES: 60, TargetUnit.SECONDS: 1}


# --------------------------------------------------------------------------- arithmetic


def due_at(start: datetime, target: SlaTarget, calendar: BusinessCalendar) -> datetime:
    """Deadline of ``target`` counted from ``start`` (see module docstring)."""
    if target.unit is TargetUnit.WORKING_DAYS:
        received = calendar.local(start).date()
        return calendar.end_of_working_day(calendar.working_days_after(received, target.amount))
    if target.unit is TargetUnit.BUSINESS_HOURS:
        return add_business_seconds(start, target.amount * 3600, calendar)
    delta = timedelta(seconds=target.amount * _WALL_CLOCK_SECONDS[target.unit])
    return (_utc(start) + delta).astimezone(calendar.zone)


def business_seconds_between(a: datetime, b: datetime, calendar: BusinessCalendar) -> int:
    """Whole working seconds inside working periods between ``a`` and ``b`` (0 if b <= a)."""
    return _business_delta(a, b, calendar) // _ONE_SECOND


def add_business_seconds(start: datetime, seconds: int, calendar: BusinessCalendar) -> datetime:
    """Move forward from ``start`` by ``seconds`` of working time only."""
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    return _add_business(start, timedelta(seconds=seconds), calendar)


def shift_deadline(
    deadline: datetime,
    paused_from: datetime,
    paused_until: datetime,
    calendar: BusinessCalendar,
    *,
    business: bool = True,
) -> datetime:
    """Push ``deadline`` later by the business time elapsed during the pause.

    The pause is always measured in business time, so a pause over a night or a
    weekend costs nothing. With ``business=True`` (working-day and business-hour
    targets) the deadline moves along the business calendar; with
    ``business=False`` (wall-clock targets) it moves by the same amount of
    wall-clock time.
    """
    pause = _business_delta(paused_from, paused_until, calendar)
    if business:
        return _add_business(deadline, pause, calendar)
    return (_utc(deadline) + pause).astimezone(calendar.zone)


def warning_at(
    start: datetime, deadline: datetime, share: float, calendar: BusinessCalendar, business: bool
) -> datetime:
    """The moment when ``share`` of the window ``start``..``deadline`` is used up."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be within [0, 1], got {share}")
    if _utc(deadline) <= _utc(start):
        return calendar.local(deadline)
    if business:
        return _add_business(start, _business_delta(start, deadline, calendar) * share, calendar)
    return (_utc(start) + (_utc(deadline) - _utc(start)) * share).astimezone(calendar.zone)


def hold_until_working_time(t: datetime, calendar: BusinessCalendar) -> datetime:
    """``t`` if it is working time, else the next working moment (for alerts)."""
    return calendar.next_working_moment(t)


def _business_delta(a: datetime, b: datetime, calendar: BusinessCalendar) -> timedelta:
    end = _utc(b)
    total = timedelta()
    for start, stop in calendar.working_intervals(a):
        if start >= end:
            break
        total += min(stop, end) - start
    return total


def _add_business(start: datetime, amount: timedelta, calendar: BusinessCalendar) -> datetime:
    if amount <= timedelta():
        return calendar.local(start)
    remaining = amount
    for begin, stop in calendar.working_intervals(start):
        if remaining <= stop - begin:
            return (begin + remaining).astimezone(calendar.zone)
        remaining -= stop - begin
    raise AssertionError("unreachable: working_intervals never ends")  # pragma: no cover
