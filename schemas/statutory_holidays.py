"""The statutory public holidays of 全国年节及纪念日放假办法 (2024 amendment), for any year.

Pure: the dates follow from the regulation's text and the Chinese calendar alone.

* 元旦 1 January;
* 春节 除夕 to 正月初三 (4 days);
* 清明 the day of the Qingming solar term;
* 劳动节 1-2 May;
* 端午 五月初五;
* 中秋 八月十五;
* 国庆 1-3 October.

Lunar dates are converted with ``lunardate`` (1900-2099); the Qingming day comes from
``cnlunar``'s table of the Hong Kong Observatory's published solar terms (1901-2100).

What the regulation leaves to the State Council's yearly notice is *not* here: the
make-up working days (调休) and the substitute day (补假) when a holiday falls on a
weekend. Past the published data those are unknown, so a weekend stays a weekend and
a holiday on a weekend gives no extra day off.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

__all__ = ["FIRST_YEAR", "LAST_YEAR", "statutory_holidays"]

FIRST_YEAR = 1901  # cnlunar's solar terms start here
LAST_YEAR = 2099  # lunardate's table ends here (Chinese year 2099)
_QINGMING_INDEX = 6  # 小寒, 大寒, 立春, 雨水, 惊蛰, 春分, 清明: the first term of April


@lru_cache(maxsize=256)
def statutory_holidays(year: int) -> frozenset[date]:
    """Every statutory day off in ``year`` (Gregorian); ValueError outside FIRST_YEAR..LAST_YEAR."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"statutory holidays are computed for {FIRST_YEAR}-{LAST_YEAR}, not {year}")
    from cnlunar.solar24 import getTheYearAllSolarTermsList  # only years past the published data pay

    new_year_eve = _solar(year, 1, 1) - timedelta(days=1)  # 除夕: the last day of the 12th month
    days = {
        date(year, 1, 1),
        *(new_year_eve + timedelta(days=i) for i in range(4)),
        date(year, 4, getTheYearAllSolarTermsList(year)[_QINGMING_INDEX]),
        date(year, 5, 1),
        date(year, 5, 2),
        _solar(year, 5, 5),
        _solar(year, 8, 15),
        date(year, 10, 1),
        date(year, 10, 2),
        date(year, 10, 3),
    }
    return frozenset(days)


def _solar(lunar_year: int, month: int, day: int) -> date:
    from lunardate import LunarDate

    solar: date = LunarDate(lunar_year, month, day).to_solar_date()
    return solar
