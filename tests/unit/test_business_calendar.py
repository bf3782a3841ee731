"""Unit and property tests for the business calendar and SLA deadline arithmetic."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, time, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.business_calendar import (
    SHANGHAI,
    BusinessCalendar,
    SlaTarget,
    TargetUnit,
    add_business_seconds,
    business_seconds_between,
    due_at,
    hold_until_working_time,
    parse_target,
    schedule_ends,
    schedule_notice,
    shift_deadline,
    warning_at,
)
from schemas.statutory_holidays import statutory_days_off

FAST = settings(max_examples=200, deadline=None)
DEFAULT = BusinessCalendar.default()
# 2027 is not covered by chinese_calendar 1.11.0: declare a plausible schedule.
HOLIDAYS_2027 = frozenset(
    {date(2027, 1, 1)}
    | {date(2027, 2, 5) + timedelta(days=i) for i in range(9)}
    | {date(2027, 10, 1) + timedelta(days=i) for i in range(7)}
)
WORKDAYS_2027 = frozenset({date(2027, 1, 31), date(2027, 2, 20), date(2027, 10, 9)})
CAL_2027 = BusinessCalendar(holidays=HOLIDAYS_2027, workdays=WORKDAYS_2027)
BUSINESS_UNITS = (TargetUnit.WORKING_DAYS, TargetUnit.BUSINESS_HOURS)


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SHANGHAI)


def wd(n: int) -> SlaTarget:
    return SlaTarget(n, TargetUnit.WORKING_DAYS)


def bh(n: int) -> SlaTarget:
    return SlaTarget(n, TargetUnit.BUSINESS_HOURS)


# --------------------------------------------------------------------------- reference


def ref_is_workday(d: date, cal: BusinessCalendar) -> bool:
    """Obvious oracle: overrides, else the package, else Monday-Friday less the statutory days off."""
    if d in cal.workdays or d in cal.holidays:
        return d in cal.workdays
    if 2004 <= d.year <= 2026:
        return bool(chinese_calendar.is_workday(d))
    return d.weekday() < 5 and d not in statutory_days_off(d.year)


def ref_working_minutes(cal: BusinessCalendar) -> list[bool]:
    """For each minute of a day, whether [m, m+1) lies inside a working period."""

    def minute(t: time) -> int:
        return t.hour * 60 + t.minute

    return [any(minute(s) <= m < minute(e) for s, e in cal.working_periods) for m in range(1440)]


def ref_due_at(start: datetime, target: SlaTarget, cal: BusinessCalendar) -> datetime:
    """Slow reference: walk day by day, or minute by minute (start on a whole minute)."""
    local = start.astimezone(SHANGHAI)
    if target.unit is TargetUnit.WORKING_DAYS:
        day, counted = local.date(), 0
        while counted < target.amount:
            day += timedelta(days=1)
            counted += ref_is_workday(day, cal)
        return datetime.combine(day, cal.working_periods[-1][1], SHANGHAI)
    assert local.second == 0 and local.microsecond == 0
    working = ref_working_minutes(cal)
    day, first, left = local.date(), local.hour * 60 + local.minute, target.amount * 60
    while True:
        if ref_is_workday(day, cal):
            for m in range(first, 1440):
                left -= working[m]
                if working[m] and left == 0:
                    return datetime.combine(day, time(), SHANGHAI) + timedelta(minutes=m + 1)
        day, first = day + timedelta(days=1), 0


def moments(year: int, *, whole_minutes: bool = False) -> st.SearchStrategy[datetime]:
    """Random instants from 1 January to 20 November of ``year`` (Shanghai time).

    The end leaves room for the longest deadline plus pause to stay in ``year``.
    """
    step = 60 if whole_minutes else 1
    span = (at(year, 11, 20) - at(year, 1, 1)) // timedelta(seconds=step)
    return st.integers(0, span).map(lambda k: at(year, 1, 1) + timedelta(seconds=k * step))


def targets() -> st.SearchStrategy[SlaTarget]:
    return st.one_of(st.integers(1, 15).map(wd), st.integers(1, 40).map(bh))


cases = st.sampled_from([(DEFAULT, 2026), (CAL_2027, 2027)])


# --------------------------------------------------------------------------- working days


def test_national_day_2026_example() -> None:
    assert due_at(at(2026, 9, 30, 16), parse_target("7 working days"), DEFAULT) == at(2026, 10, 15, 17, 30)


def test_package_agrees_with_the_example_premises() -> None:
    assert not any(DEFAULT.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert DEFAULT.is_workday(date(2026, 10, 10))  # Saturday make-up workday


def test_friday_afternoon_plus_one_working_day_is_monday_end_of_day() -> None:
    assert due_at(at(2026, 3, 13, 15), wd(1), DEFAULT) == at(2026, 3, 16, 17, 30)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (at(2026, 10, 3, 10), at(2026, 10, 8, 17, 30)),  # during the holiday
        (at(2026, 10, 8, 0, 1), at(2026, 10, 9, 17, 30)),  # a workday, before opening
        (at(2026, 10, 9, 23, 59), at(2026, 10, 10, 17, 30)),  # next day is a make-up Saturday
        (at(2026, 3, 14, 9), at(2026, 3, 16, 17, 30)),  # ordinary Saturday
    ],
)
def test_received_outside_a_working_day(received: datetime, due: datetime) -> None:
    assert due_at(received, wd(1), DEFAULT) == due


def test_spring_festival_2026_and_its_make_up_days() -> None:
    assert DEFAULT.is_workday(date(2026, 2, 14)) and DEFAULT.is_workday(date(2026, 2, 28))
    assert not any(DEFAULT.is_workday(date(2026, 2, d)) for d in range(15, 24))
    assert due_at(at(2026, 2, 13, 10), wd(1), DEFAULT) == at(2026, 2, 14, 17, 30)
    assert due_at(at(2026, 2, 13, 10), wd(2), DEFAULT) == at(2026, 2, 24, 17, 30)
    assert due_at(at(2026, 2, 27, 10), wd(1), DEFAULT) == at(2026, 2, 28, 17, 30)


def test_start_in_another_zone_is_counted_in_shanghai() -> None:
    start = datetime(2026, 9, 30, 8, tzinfo=UTC)  # 16:00 in Shanghai
    due = due_at(start, wd(7), DEFAULT)
    assert due == at(2026, 10, 15, 17, 30) and due.tzinfo == SHANGHAI


def test_custom_working_periods_end_the_day_at_their_last_period() -> None:
    cal = BusinessCalendar(working_periods=[(time(9), time(17))])
    assert due_at(at(2026, 3, 13, 15), wd(1), cal) == at(2026, 3, 16, 17)
    assert due_at(at(2026, 3, 13, 15), bh(3), cal) == at(2026, 3, 16, 10)


@pytest.mark.parametrize("target", [wd(1), wd(7), wd(15)])
def test_every_day_of_2026_agrees_with_the_reference(target: SlaTarget) -> None:
    for offset in range(335):
        start = at(2026, 1, 1, 16) + timedelta(days=offset)
        assert due_at(start, target, DEFAULT) == ref_due_at(start, target, DEFAULT), start


@pytest.mark.parametrize(
    ("t", "working"),
    [
        (at(2026, 3, 12, 8, 29, 59), False),
        (at(2026, 3, 12, 8, 30), True),
        (at(2026, 3, 12, 12), True),
        (at(2026, 3, 12, 12, 0, 1), False),
        (at(2026, 3, 12, 13, 30), True),
        (at(2026, 3, 12, 17, 30), True),
        (at(2026, 3, 12, 17, 30, 1), False),
        (at(2026, 10, 2, 10), False),
        (at(2026, 10, 10, 10), True),
    ],
)
def test_is_working_time_includes_period_ends(t: datetime, working: bool) -> None:
    assert DEFAULT.is_working_time(t) is working


def test_working_days_after_never_counts_the_start_day() -> None:
    assert DEFAULT.working_days_after(date(2026, 9, 30), 0) == date(2026, 9, 30)
    assert DEFAULT.working_days_after(date(2026, 9, 30), 3) == date(2026, 10, 10)
    with pytest.raises(ValueError):
        DEFAULT.working_days_after(date(2026, 9, 30), -1)


# ------------------------------------------------------------ wall clock and business hours


def test_hours_target_is_wall_clock_across_midnight() -> None:
    assert due_at(at(2026, 3, 13, 23), parse_target("2h"), DEFAULT) == at(2026, 3, 14, 1)
    assert due_at(at(2026, 10, 1, 10), parse_target("30 minutes"), DEFAULT) == at(2026, 10, 1, 10, 30)
    assert due_at(at(2026, 10, 1, 10), parse_target("30s"), DEFAULT) == at(2026, 10, 1, 10, 0, 30)


def test_business_hours_skip_the_lunch_break() -> None:
    assert due_at(at(2026, 3, 12, 11), bh(2), DEFAULT) == at(2026, 3, 12, 14, 30)


def test_business_hours_skip_the_weekend() -> None:
    assert due_at(at(2026, 3, 13, 16, 30), bh(4), DEFAULT) == at(2026, 3, 16, 11, 30)


def test_business_hours_started_at_night_begin_next_morning() -> None:
    assert due_at(at(2026, 3, 12, 20), bh(1), DEFAULT) == at(2026, 3, 13, 9, 30)


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2026, 3, 12, 10)
    with pytest.raises(ValueError, match="naive"):
        due_at(naive, wd(1), DEFAULT)
    with pytest.raises(ValueError, match="naive"):
        business_seconds_between(naive, at(2026, 3, 13), DEFAULT)
    with pytest.raises(ValueError, match="naive"):
        hold_until_working_time(naive, DEFAULT)


# ------------------------------------------------------------ business time arithmetic


def test_business_seconds_between_examples() -> None:
    assert business_seconds_between(at(2026, 3, 12, 9), at(2026, 3, 12, 10), DEFAULT) == 3600
    assert business_seconds_between(at(2026, 3, 12, 11), at(2026, 3, 12, 14), DEFAULT) == 5400
    assert business_seconds_between(at(2026, 3, 13, 17), at(2026, 3, 16, 9), DEFAULT) == 3600
    assert business_seconds_between(at(2026, 3, 12, 10), at(2026, 3, 12, 9), DEFAULT) == 0
    one_day = business_seconds_between(at(2026, 3, 12), at(2026, 3, 13), DEFAULT)
    assert one_day == DEFAULT.working_day_seconds == 27000


def test_add_business_seconds_landing_on_a_period_end_stays_there() -> None:
    assert add_business_seconds(at(2026, 3, 12, 11), 3600, DEFAULT) == at(2026, 3, 12, 12)
    assert add_business_seconds(at(2026, 3, 12, 11), 3601, DEFAULT) == at(2026, 3, 12, 13, 30, 1)
    assert add_business_seconds(at(2026, 3, 12, 20), 0, DEFAULT) == at(2026, 3, 12, 20)
    with pytest.raises(ValueError):
        add_business_seconds(at(2026, 3, 12, 11), -1, DEFAULT)


def test_pause_overnight_does_not_move_the_deadline() -> None:
    deadline = at(2026, 3, 20, 17, 30)
    assert shift_deadline(deadline, at(2026, 3, 12, 18), at(2026, 3, 13, 8), DEFAULT) == deadline


def test_pause_during_working_time_moves_the_deadline_in_business_time() -> None:
    deadline = at(2026, 3, 20, 17, 30)  # a Friday
    moved = shift_deadline(deadline, at(2026, 3, 12, 10), at(2026, 3, 12, 11), DEFAULT)
    assert moved == at(2026, 3, 23, 9, 30)


def test_pause_of_a_wall_clock_target_is_measured_in_business_time() -> None:
    deadline = at(2026, 3, 12, 22)
    pause = (at(2026, 3, 12, 11), at(2026, 3, 12, 19))  # 1 h + 4 h of business time
    moved = shift_deadline(deadline, *pause, DEFAULT, business=False)
    assert moved == at(2026, 3, 13, 3)


def test_warning_share_in_business_and_wall_clock_time() -> None:
    start, deadline = at(2026, 3, 13, 16, 30), at(2026, 3, 16, 11, 30)  # 4 business hours
    assert warning_at(start, deadline, 0.75, DEFAULT, business=True) == at(2026, 3, 16, 10, 30)
    assert warning_at(start, deadline, 0.5, DEFAULT, business=False) == at(2026, 3, 15, 2)
    assert warning_at(start, start - timedelta(hours=1), 0.8, DEFAULT, True) == start - timedelta(hours=1)
    with pytest.raises(ValueError):
        warning_at(start, deadline, 1.5, DEFAULT, business=True)


@pytest.mark.parametrize(
    ("t", "held"),
    [
        (at(2026, 3, 12, 10), at(2026, 3, 12, 10)),
        (at(2026, 3, 12, 12, 30), at(2026, 3, 12, 13, 30)),
        (at(2026, 3, 12, 17, 30), at(2026, 3, 12, 17, 30)),  # a period end is working time
        (at(2026, 3, 13, 18), at(2026, 3, 16, 8, 30)),
        (at(2026, 9, 30, 20), at(2026, 10, 8, 8, 30)),
        (datetime(2026, 3, 12, 0, tzinfo=UTC), at(2026, 3, 12, 8, 30)),
    ],
)
def test_hold_until_working_time(t: datetime, held: datetime) -> None:
    assert hold_until_working_time(t, DEFAULT) == held
    assert DEFAULT.is_working_time(held)


# --------------------------------------------------------------------------- calendar sources


def test_overrides_win_over_the_package() -> None:
    cal = BusinessCalendar(holidays=frozenset({date(2026, 3, 16)}), workdays={date(2026, 10, 3)})
    assert not cal.is_workday(date(2026, 3, 16)) and DEFAULT.is_workday(date(2026, 3, 16))
    assert cal.is_workday(date(2026, 10, 3)) and not DEFAULT.is_workday(date(2026, 10, 3))
    assert due_at(at(2026, 10, 2, 9), wd(1), cal) == at(2026, 10, 3, 17, 30)


def test_past_the_published_data_the_statutory_holidays_apply_silently() -> None:
    cal = BusinessCalendar.default()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the pure core raises no warning: ``ztc`` prints one line
        assert not cal.is_workday(date(2030, 1, 1))  # 元旦, a Tuesday
        assert not cal.is_workday(date(2030, 1, 5))
        assert due_at(at(2029, 12, 31, 12), wd(1), cal) == at(2030, 1, 2, 17, 30)
    assert cal.uncovered_years_seen == {2030}  # the day of receipt is never asked about


def test_1_january_2027_is_a_holiday_three_working_days_from_new_years_eve() -> None:
    """The issue's case: 2026-12-31 10:00 + 3 working days skips 元旦 (a Friday) and the weekend."""
    assert due_at(at(2026, 12, 31, 10), wd(3), DEFAULT) == at(2027, 1, 6, 17, 30)
    assert not DEFAULT.is_workday(date(2027, 1, 1))


def test_year_declared_by_overrides_is_not_reported_as_estimated() -> None:
    cal = BusinessCalendar(holidays=HOLIDAYS_2027, workdays=WORKDAYS_2027)
    assert due_at(at(2027, 9, 30, 9), wd(2), cal) == at(2027, 10, 9, 17, 30)
    assert cal.is_workday(date(2027, 3, 1)) and not cal.is_workday(date(2027, 3, 6))
    assert cal.uncovered_years_seen == frozenset()


def test_the_schedule_notice_is_one_line_within_90_days_of_its_end() -> None:
    assert schedule_ends(DEFAULT) == date(2026, 12, 31)
    assert schedule_notice(DEFAULT, date(2026, 10, 1)) is None
    notice = schedule_notice(DEFAULT, date(2026, 11, 29))
    assert notice is not None and "\n" not in notice
    assert (
        "2026-12-31" in notice and "还有 32 天 in 32 days" in notice and "全国年节及纪念日放假办法" in notice
    )
    assert "已过 1 天 ended 1 days ago" in (schedule_notice(DEFAULT, date(2027, 1, 1)) or "")
    assert schedule_ends(CAL_2027) == date(2027, 12, 31)
    assert schedule_notice(CAL_2027, date(2026, 11, 29)) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"working_periods": []},
        {"working_periods": [(time(12), time(9))]},
        {"working_periods": [(time(13), time(17)), (time(9), time(12))]},
        {"working_periods": [(time(9), time(12)), (time(11), time(17))]},
        {"holidays": frozenset({date(2026, 3, 2)}), "workdays": frozenset({date(2026, 3, 2)})},
    ],
)
def test_invalid_calendars_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


def test_calendar_is_hashable_and_compares_by_configuration() -> None:
    same = BusinessCalendar(working_periods=[(time(8, 30), time(12)), (time(13, 30), time(17, 30))])
    assert same == DEFAULT and hash(same) == hash(DEFAULT)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("7 working days", wd(7)),
        ("7 个工作日", wd(7)),
        ("7个工作日", wd(7)),
        ("7wd", wd(7)),
        ("1 working day", wd(1)),
        ("2 hours", SlaTarget(2, TargetUnit.HOURS)),
        ("2h", SlaTarget(2, TargetUnit.HOURS)),
        ("2 小时", SlaTarget(2, TargetUnit.HOURS)),
        ("4 business hours", bh(4)),
        ("4  Business   Hours ", bh(4)),
        ("30 minutes", SlaTarget(30, TargetUnit.MINUTES)),
        ("30s", SlaTarget(30, TargetUnit.SECONDS)),
    ],
)
def test_parse_target(text: str, target: SlaTarget) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize(
    "text", ["", "7", "seven working days", "七个工作日", "7 fortnights", "-1h", "1.5h", "0 hours"]
)
def test_parse_target_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        parse_target(text)


def test_target_str_is_readable_english() -> None:
    assert str(wd(7)) == "7 working days"
    assert str(SlaTarget(1, TargetUnit.HOURS)) == "1 hour"
    assert str(bh(4)) == "4 business hours"


@given(st.integers(1, 10_000), st.sampled_from(list(TargetUnit)))
def test_target_str_round_trips(amount: int, unit: TargetUnit) -> None:
    target = SlaTarget(amount, unit)
    assert parse_target(str(target)) == target


# --------------------------------------------------------------------------- properties


@FAST
@given(cases, st.data(), targets())
def test_business_deadlines_are_working_moments(
    case: tuple[BusinessCalendar, int], data: st.DataObject, target: SlaTarget
) -> None:
    cal, year = case
    due = due_at(data.draw(moments(year)), target, cal)
    assert cal.is_workday(due.date()) and cal.is_working_time(due)
    assert due.tzinfo == SHANGHAI


@FAST
@given(cases, st.data(), targets())
def test_due_at_agrees_with_the_slow_reference(
    case: tuple[BusinessCalendar, int], data: st.DataObject, target: SlaTarget
) -> None:
    cal, year = case
    start = data.draw(moments(year, whole_minutes=True))
    assert due_at(start, target, cal) == ref_due_at(start, target, cal)


@FAST
@given(cases, st.data(), targets(), st.integers(1, 5))
def test_pause_of_k_working_days_moves_deadline_by_k_working_days(
    case: tuple[BusinessCalendar, int], data: st.DataObject, target: SlaTarget, k: int
) -> None:
    cal, year = case
    start = data.draw(moments(year))
    deadline = due_at(start, target, cal)
    paused_from = cal.next_working_moment(data.draw(moments(year)))
    paused_until = add_business_seconds(paused_from, k * cal.working_day_seconds, cal)
    moved = shift_deadline(deadline, paused_from, paused_until, cal)
    assert moved.time() == deadline.time()
    assert moved.date() == cal.working_days_after(deadline.date(), k)


@FAST
@given(cases, st.data(), st.integers(0, 40 * 3600))
def test_business_seconds_between_inverts_add_business_seconds(
    case: tuple[BusinessCalendar, int], data: st.DataObject, seconds: int
) -> None:
    cal, year = case
    start = data.draw(moments(year))
    end = add_business_seconds(start, seconds, cal)
    assert business_seconds_between(start, end, cal) == seconds


@FAST
@given(cases, st.data(), st.floats(0, 1))
def test_business_warning_uses_its_share_of_the_window(
    case: tuple[BusinessCalendar, int], data: st.DataObject, share: float
) -> None:
    cal, year = case
    start = data.draw(moments(year))
    deadline = due_at(start, wd(5), cal)
    warn = warning_at(start, deadline, share, cal, business=True)
    window = business_seconds_between(start, deadline, cal)
    assert start <= warn <= deadline
    assert abs(business_seconds_between(start, warn, cal) - share * window) <= 1


@FAST
@given(moments(2026), st.integers(1, 72))
def test_hours_targets_are_plain_wall_clock(start: datetime, hours: int) -> None:
    assert due_at(start, SlaTarget(hours, TargetUnit.HOURS), DEFAULT) - start == timedelta(hours=hours)


@FAST
@given(
    st.dates(date(2026, 1, 1), date(2026, 12, 31)),
    st.frozensets(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=20),
    st.frozensets(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=20),
)
def test_overrides_always_win(d: date, holidays: frozenset[date], workdays: frozenset[date]) -> None:
    cal = BusinessCalendar(holidays=holidays - workdays, workdays=workdays)
    expected = d in workdays or (d not in holidays and bool(chinese_calendar.is_workday(d)))
    assert cal.is_workday(d) == expected
