"""Statutory holidays past the published data, the 2027 deadlines they give, and the one-line notices."""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta

import chinese_calendar
import pytest

from schemas.business_calendar import (
    SHANGHAI,
    BusinessCalendar,
    CalendarCoverageWarning,
    SlaTarget,
    TargetUnit,
    due_at,
    published_data_ends,
)
from schemas.statutory_holidays import statutory_holidays
from ztc import cli
from ztc.commands import calendar_coverage_warning


def test_2027_statutory_holidays() -> None:
    days = statutory_holidays(2027)
    assert date(2027, 1, 1) in days  # 元旦
    assert {date(2027, 2, 5) + timedelta(days=i) for i in range(4)} <= days  # 除夕..正月初三
    assert date(2027, 2, 4) not in days and date(2027, 2, 9) not in days
    assert date(2027, 4, 5) in days  # 清明
    assert {date(2027, 5, 1), date(2027, 5, 2)} <= days and date(2027, 5, 3) not in days
    assert date(2027, 6, 9) in days  # 端午 五月初五
    assert date(2027, 9, 15) in days  # 中秋 八月十五
    assert {date(2027, 10, 1), date(2027, 10, 2), date(2027, 10, 3)} <= days
    assert len(days) == 13


@pytest.mark.parametrize("year", [2025, 2026])  # the 2024 amendment's years the package publishes
def test_statutory_days_agree_with_the_published_schedule(year: int) -> None:
    for day in statutory_holidays(year):
        assert chinese_calendar.is_holiday(day), day


def test_statutory_holidays_outside_the_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="2100"):
        statutory_holidays(2100)


def test_three_working_days_over_new_year_2027() -> None:
    cal = BusinessCalendar.default()
    start = datetime(2026, 12, 31, 10, tzinfo=SHANGHAI)
    with pytest.warns(CalendarCoverageWarning, match="2027"):
        due = due_at(start, SlaTarget(3, TargetUnit.WORKING_DAYS), cal)
    assert due == datetime(2027, 1, 6, 17, 30, tzinfo=SHANGHAI)  # 1 January is 元旦, not a working day


def test_spring_festival_and_mid_autumn_2027_are_days_off() -> None:
    cal = BusinessCalendar.default()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalendarCoverageWarning)
        assert [cal.is_workday(date(2027, 2, d)) for d in range(4, 10)] == [
            True,
            False,
            False,
            False,
            False,
            True,
        ]
        assert not cal.is_workday(date(2027, 4, 5)) and not cal.is_workday(date(2027, 6, 9))
        assert not cal.is_workday(date(2027, 9, 15)) and cal.is_workday(date(2027, 10, 4))


def test_sla_due_prints_the_coverage_warning_as_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["sla", "due", "--start", "2026-12-31T10:00+08:00", "--target", "3 working days"])
    out, err = capsys.readouterr()
    assert code == 0 and "2027-01-06T17:30:00+08:00" in out
    assert err.count("\n") == 1 and err.startswith("注意 / warning: ") and ".py" not in err


def test_policy_check_warns_when_the_data_ends_within_90_days() -> None:
    ends = published_data_ends()
    assert ends == date(2026, 12, 31)  # chinesecalendar 1.11.0; move with the pin
    assert calendar_coverage_warning(ends - timedelta(days=91)) is None
    soon = calendar_coverage_warning(ends - timedelta(days=32))
    assert soon is not None and "还有 32 天" in soon and "\n" not in soon
    late = calendar_coverage_warning(ends + timedelta(days=5))
    assert late is not None and "已过 5 天" in late
