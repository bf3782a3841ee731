"""``ztc report monthly`` against the real Redis: the workbook it writes, read back with openpyxl.

A November is recorded straight into the Redis store the recorder uses (with the SLA clocks,
so the read model holds what the recorder's would): approval and market each have five
called-back tickets, planning one (below the minimum sample), and one urgent ticket sits
unaccepted past its deadline. October holds a weaker month for approval, for the trend.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import redis

from consumers.sla_engine import SlaBook
from consumers.ticket_store import RecordStatus, RedisTicketStore
from schemas.events import DISTRICT_ZONE, Event, Priority, TicketRouted
from schemas.feedback import (
    Answer,
    DepartmentAction,
    RatedBy,
    Rating,
    SatisfactionRated,
    TicketAccepted,
    TicketResolved,
)
from schemas.settings import Settings
from tests.integration.conftest import ztc
from tests.unit.factories import submission
from ztc.bootstrap import policy_for

NOV = datetime(2026, 11, 3, 9, 0, tzinfo=DISTRICT_ZONE)  # a Tuesday
OCT = datetime(2026, 10, 13, 9, 0, tzinfo=DISTRICT_ZONE)
HOUR = timedelta(hours=1)
NOW = "2026-11-30T18:00+08:00"


def _record(store: RedisTicketStore, event: Event) -> None:
    assert store.record(event).status is RecordStatus.applied


def _ticket(
    store: RedisTicketStore, n: int, lead: str, at: datetime, rating: Rating | None, **answers: Any
) -> str:
    ticket_id = f"ZTC-{at:%Y%m%d}-{n:08X}"
    urgent = rating is None
    _record(
        store,
        TicketRouted(
            ticket_id=ticket_id,
            occurred_at=at,
            submission=submission(
                ticket_id=ticket_id, channel_message_id=f"m-{n}", title=f"诉求{n}", enterprise_name=f"企业{n}"
            ),
            category="business_registration",
            confidence=0.9,
            lead_department=lead,
            priority=Priority.urgent if urgent else Priority.normal,
            policy_version="test",
        ),
    )
    if rating is None:
        return ticket_id

    def act(kind: type[DepartmentAction], offset: int, department: str, **fields: Any) -> None:
        _record(
            store,
            kind(
                ticket_id=ticket_id,
                occurred_at=at + offset * HOUR,
                department=department,
                actor="t",
                **fields,
            ),
        )

    act(TicketAccepted, 1, lead)
    act(TicketResolved, 2, lead, resolution="已办结")
    act(SatisfactionRated, 3, "enterprise", rating=rating, rated_by=RatedBy.enterprise, **answers)
    return ticket_id


@pytest.fixture(scope="module")
def november(settings: Settings) -> dict[str, str]:
    policy = policy_for(settings)
    store = RedisTicketStore(redis.Redis.from_url(settings.redis), settings.redis_prefix, SlaBook(policy))
    for i in range(5):  # approval: 5 x 满意, all contacted and solved
        _ticket(store, 10 + i, "approval", NOV + i * HOUR * 24, Rating.satisfied)
    for i in range(5):  # market: 3 满意 + 2 基本满意, one not solved
        rating = Rating.satisfied if i < 3 else Rating.basically_satisfied
        solved = Answer.no if i == 4 else Answer.yes
        _ticket(store, 20 + i, "market", NOV + i * HOUR * 24, rating, contacted=Answer.yes, solved=solved)
    _ticket(store, 30, "planning", NOV, Rating.satisfied)
    for i in range(5):  # October: approval weaker: 2 基本满意 neither contacted nor solved
        if i < 2:
            answers = {"contacted": Answer.no, "solved": Answer.no}
            _ticket(store, 40 + i, "approval", OCT + i * HOUR * 24, Rating.basically_satisfied, **answers)
        else:
            _ticket(store, 40 + i, "approval", OCT + i * HOUR * 24, Rating.satisfied)
    late = _ticket(store, 50, "approval", datetime(2026, 11, 27, 9, 0, tzinfo=DISTRICT_ZONE), None)
    return {"late": late}


def test_ztc_report_monthly_writes_a_workbook_with_ranking_rates_and_hot_spots(
    settings: Settings, november: dict[str, str], tmp_path: Path
) -> None:
    args = ("report", "monthly", "--period", "2026-11", "--now", NOW, "--out", str(tmp_path), "--send")
    result = ztc(settings, *args)
    assert result.returncode == 0, result.stderr
    assert "营商效能督办通报（月报）2026年11月" in result.stdout
    assert "推送 log: 已发送 sent" in result.stdout
    book = openpyxl.load_workbook(tmp_path / "ztc-report-monthly-2026-11.xlsx")
    assert book.sheetnames == [
        "概览 Summary",
        "排名 Ranking",
        "红黑榜 Red-Black",
        "超期督办 Overdue",
        "热点 Hot spots",
    ]

    ranking = list(book["排名 Ranking"].iter_rows(values_only=True))
    header, rows = ranking[0], {row[2]: dict(zip(ranking[0], row, strict=True)) for row in ranking[1:]}
    assert header[:5] == (
        "分组 Grade",
        "名次 Rank",
        "部门代码 Code",
        "部门 Department",
        "有效回访 Valid callbacks",
    )
    approval, market, planning = rows["approval"], rows["market"], rows["planning"]
    assert (approval["名次 Rank"], market["名次 Rank"], planning["名次 Rank"]) == (1, 2, None)
    assert approval["综合得分 Composite"] == pytest.approx(1.0)
    # market: response 5/5, resolution 4/5, satisfaction (3 + 0.9 x 2) / 5 = 0.96
    assert market["解决率 Resolution"] == pytest.approx(0.8)
    assert market["满意率 Satisfaction"] == pytest.approx(0.96)
    assert market["综合得分 Composite"] == pytest.approx(0.1 + 0.5 * 0.8 + 0.4 * 0.96)
    assert "样本不足" in planning["说明 Note"]

    summary = {row[0]: row[1:] for row in book["概览 Summary"].iter_rows(values_only=True) if row[0]}
    received, previous, _ = summary["受理工单 Tickets received"]
    assert (received, previous) == (12, 5)
    composite_now, composite_before, change = summary["综合得分 Composite score"]
    # October: 5 callbacks, 3 contacted and solved, 3 满意 + 2 基本满意 → 0.1 x 0.6 + 0.5 x 0.6 + 0.4 x 0.96
    assert composite_before == pytest.approx(0.744)
    assert composite_now > composite_before and change.startswith("+")

    overdue = list(book["超期督办 Overdue"].iter_rows(values_only=True))[1:]
    assert [(row[0], row[2]) for row in overdue] == [(november["late"], "紧急")]

    hot = list(book["热点 Hot spots"].iter_rows(values_only=True))
    assert hot == [
        ("街道 Street", "类别 Category", "热度 Heat", "企业数 Enterprises", "工单 Tickets", "建议 Suggestion")
    ]

    html = (tmp_path / "ztc-report-monthly-2026-11.html").read_text(encoding="utf-8")
    assert "营商效能督办通报（月报）2026年11月" in html and "本期没有热点" in html  # connected, none here


def test_an_unknown_period_is_one_line_in_chinese_and_english(settings: Settings, tmp_path: Path) -> None:
    result = ztc(settings, "report", "monthly", "--period", "2026-13", "--out", str(tmp_path))
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert "无法识别的统计周期" in line and "unknown period" in line
