"""The statutory holidays past the published schedule: checked against the years that are published."""

from __future__ import annotations

from datetime import date

import chinese_calendar
import pytest

from schemas.statutory_holidays import statutory_days_off, statutory_holidays


@pytest.mark.parametrize("year", [2025, 2026])
def test_every_day_off_by_law_is_off_in_the_published_schedule(year: int) -> None:
    """2025 and 2026 are the published years under the 2024 amendment: the law's days are a subset."""
    off = statutory_days_off(year)
    assert len(off) >= 13
    assert [d for d in sorted(off) if chinese_calendar.is_workday(d)] == []


def test_the_festivals_of_2027_from_lunar_dates_and_the_qingming_term() -> None:
    festivals = dict(statutory_holidays(2027))
    assert festivals["元旦"] == (date(2027, 1, 1),)
    assert festivals["春节"] == tuple(date(2027, 2, d) for d in (5, 6, 7, 8))  # 除夕 to 初三
    assert festivals["清明节"] == (date(2027, 4, 5),)
    assert festivals["劳动节"] == (date(2027, 5, 1), date(2027, 5, 2))
    assert festivals["端午节"] == (date(2027, 6, 9),)
    assert festivals["中秋节"] == (date(2027, 9, 15),)
    assert festivals["国庆节"] == (date(2027, 10, 1), date(2027, 10, 2), date(2027, 10, 3))


def test_a_festival_on_a_weekend_is_made_up_on_the_next_weekday() -> None:
    off = statutory_days_off(2027)
    assert {date(2027, 2, 8), date(2027, 2, 9), date(2027, 2, 10)} <= off  # 初一, 初二 at a weekend
    assert {date(2027, 5, 3), date(2027, 5, 4)} <= off  # 1-2 May are Saturday and Sunday
    assert {date(2027, 10, 4), date(2027, 10, 5)} <= off  # 2-3 October are Saturday and Sunday
    assert date(2027, 1, 4) not in off  # 元旦 2027 is a Friday: nothing owed


def test_mid_autumn_on_national_day_gives_one_more_day() -> None:
    off = statutory_days_off(2028)  # 中秋 is 3 October 2028, 1 October a Sunday
    assert {date(2028, 10, d) for d in range(1, 6)} <= off
    assert date(2028, 10, 6) not in off
