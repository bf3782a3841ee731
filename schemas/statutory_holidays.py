"""The statutory public holidays of 《全国年节及纪念日放假办法》 (as amended 2024, in force 2025-01-01).

Pure: a year in, its days off by law out. Used for the years after the published
holiday schedule (``chinese_calendar``'s data) ends:

- 元旦 1 January (1 day); 春节 除夕 to 正月初三 (4 days); 清明节 the day of the 清明 solar
  term (1 day); 劳动节 1-2 May (2 days); 端午节 五月初五 (1 day); 中秋节 八月十五 (1 day);
  国庆节 1-3 October (3 days) — Article 2 of the regulation.
- 补假 (Article 6): a holiday falling on a Saturday or Sunday — or on another holiday's day —
  is made up on the next weekday after that festival that is not already off.

Lunar dates (除夕, 初一, 端午, 中秋) and the 清明 solar term are computed by ``tyme4py``
(astronomical algorithms, no tables to expire). What the law leaves to the State Council's
yearly notice — 调休 make-up working days on weekends and the bridging days that come with
them — cannot be computed; only that year's published schedule (or the policy's
``[sla] holidays`` / ``workdays``) knows them.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

__all__ = ["REGULATION", "statutory_days_off", "statutory_holidays"]

REGULATION = "《全国年节及纪念日放假办法》（2024 年修订）"
_ONE_DAY = timedelta(days=1)


def _lunar(year: int, month: int, day: int) -> date:
    from tyme4py.lunar import LunarDay  # only a year past the published schedule needs it

    solar = LunarDay.from_ymd(year, month, day).get_solar_day()
    return date(solar.get_year(), solar.get_month(), solar.get_day())


def _qingming(year: int) -> date:
    from tyme4py.solar import SolarTerm

    solar = SolarTerm.from_name(year, "清明").get_julian_day().get_solar_day()
    return date(solar.get_year(), solar.get_month(), solar.get_day())


@lru_cache(maxsize=64)
def statutory_holidays(year: int) -> tuple[tuple[str, tuple[date, ...]], ...]:
    """Each festival of ``year`` with its statutory days, in date order (before any 补假)."""
    new_year = _lunar(year, 1, 1)
    festivals = [
        ("元旦", (date(year, 1, 1),)),
        ("春节", tuple(new_year + timedelta(days=i) for i in range(-1, 3))),
        ("清明节", (_qingming(year),)),
        ("劳动节", (date(year, 5, 1), date(year, 5, 2))),
        ("端午节", (_lunar(year, 5, 5),)),
        ("中秋节", (_lunar(year, 8, 15),)),
        ("国庆节", tuple(date(year, 10, i) for i in (1, 2, 3))),
    ]
    return tuple(sorted(festivals, key=lambda festival: festival[1][0]))


@lru_cache(maxsize=64)
def statutory_days_off(year: int) -> frozenset[date]:
    """Every day off by law in ``year``: the festivals' days and their 补假 (see module docstring).

    A made-up day of a late-December festival could fall in January of the next year; none
    does (元旦 is the only festival near the turn and is on 1 January).
    """
    off: set[date] = set()
    for _, days in statutory_holidays(year):
        owed = sum(1 for d in days if d.weekday() >= 5 or d in off)
        off.update(days)
        day = days[-1]
        while owed:
            day += _ONE_DAY
            if day.weekday() < 5 and day not in off:
                off.add(day)
                owed -= 1
    return frozenset(off)
