"""The supervision report's pure parts: periods, headline trends, overdue rows, the robot summary."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import redis

from consumers import read_model as rm
from consumers.dashboard import make_templates
from consumers.report import (
    DetectedHotSpots,
    Headline,
    HotSpot,
    OverdueStage,
    build_report,
    overdue_tickets,
    summary_text,
)
from consumers.report_pages import department_names, level_labels, render_report_html
from consumers.report_periods import ReportKind, report_period
from consumers.report_sinks import send_summary
from consumers.report_xlsx import report_workbook
from consumers.ticket_store import InMemoryTicketStore
from schemas.callback_rates import CallbackKind
from schemas.events import DISTRICT_ZONE, Priority
from schemas.settings import Settings
from tests.unit.loopback_http import serving_posts
from tests.unit.test_assessment import POLICY, callbacks
from tests.unit.test_supervision import BOOK, routed

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=DISTRICT_ZONE)  # a Sunday


def test_weeks_run_monday_to_sunday_and_months_by_the_calendar() -> None:
    week = report_period(ReportKind.weekly, None, NOW)
    assert (week.period.first_day, week.period.last_day) == (date(2026, 11, 23), date(2026, 11, 29))
    assert week.name == "2026-W48" and not week.complete
    assert (week.previous.first_day, week.previous.last_day) == (date(2026, 11, 16), date(2026, 11, 22))
    assert report_period(ReportKind.weekly, "2026-W47", NOW).period == week.previous
    assert report_period(ReportKind.weekly, "previous", NOW).period == week.previous
    assert report_period(ReportKind.weekly, "2026-11-18", NOW).name == "2026-W47"

    month = report_period(ReportKind.monthly, "2026-10", NOW)
    assert (month.period.first_day, month.period.last_day) == (date(2026, 10, 1), date(2026, 10, 31))
    assert (month.previous.first_day, month.previous.last_day) == (date(2026, 9, 1), date(2026, 9, 30))
    assert month.complete and month.title == "2026年10月"
    january = report_period(ReportKind.monthly, "2027-01", datetime(2027, 2, 1, tzinfo=DISTRICT_ZONE))
    assert january.previous.first_day == date(2026, 12, 1)


@pytest.mark.parametrize("spec", ["2026-13", "2026-W48x", "next", "2026-12"])
def test_a_period_that_cannot_be_read_or_has_not_started_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="周期"):
        report_period(ReportKind.monthly, spec, NOW)


def test_a_headline_knows_whether_its_change_is_good_news() -> None:
    better = Headline("composite", "综合得分", 0.9, 0.8)
    assert better.trend == "up" and better.better is True
    assert better.change == pytest.approx(0.1)
    bounce = Headline("bounce", "退单率", 0.2, 0.1, higher_is_better=False)
    assert bounce.trend == "up" and bounce.better is False
    assert Headline("x", "x", 0.5, None).trend == "none"
    assert Headline("x", "x", 0.5, 0.5).better is None


def test_an_overdue_ticket_is_listed_once_by_its_most_escalated_stage_urgent_first() -> None:
    store = InMemoryTicketStore(book=BOOK)
    one, two, three = (routed(store, n) for n in (1, 2, 3))
    urgent = three.model_copy(update={"priority": Priority.urgent})
    due = NOW - timedelta(hours=5)
    stages = [
        OverdueStage(one, "签收", "approval", due, timedelta(hours=5), 1),
        OverdueStage(one, "办结", "approval", due, timedelta(hours=2), 2),
        OverdueStage(two, "签收", "approval", due, timedelta(hours=9), 0),
        OverdueStage(urgent, "签收", "approval", due, timedelta(hours=1), 0),
    ]
    rows = overdue_tickets(stages)
    assert [(r.record.ticket_id[-1], r.stage, r.level) for r in rows] == [
        ("1", "办结", 2),
        ("3", "签收", 0),
        ("2", "签收", 0),
    ]
    assert rows[1].urgent


def test_the_report_compares_with_the_previous_period_and_sums_up_for_the_robot() -> None:
    period = report_period(ReportKind.monthly, "2026-11", NOW)
    day = callbacks("market", 5, contacted=5, solved=5, satisfied=5, basically=0)
    day |= callbacks("approval", 5, contacted=5, solved=4, satisfied=4, basically=1)
    day |= {rm.category_field("licence"): 10, rm.department_field("approval", rm.BOUNCED): 1}
    before = callbacks("market", 5, contacted=5, solved=3, satisfied=3, basically=0, kind=CallbackKind())
    before |= {rm.category_field("licence"): 8}
    report = build_report(period, NOW, [day], [before], POLICY)
    received = report.headline("received")
    assert (received.value, received.previous, received.trend) == (10, 8, "up")
    assert report.headline("bounce").value == pytest.approx(0.1)
    assert report.headline("bounce").better is False  # 0 % → 10 %: worse
    assert report.hot_spots is None  # detection not connected: not "no hot spots"
    text = summary_text(report, {"market": "区市场监管局", "approval": "区行政审批服务局"})
    assert text.splitlines()[0] == "【营商效能督办通报（月报）2026年11月】"
    assert "红榜：区市场监管局；黑榜：区行政审批服务局" in text


def test_the_summary_goes_to_every_configured_sink_and_a_failing_one_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    posted: list[dict[str, Any]] = []

    def robot(path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        posted.append({"path": path, "body": json.loads(body)})
        return 200, b'{"errcode": 0}'

    def refusing(path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        return 200, b'{"errcode": 310000, "errmsg": "sign not match"}'

    text = "【营商效能督办通报（周报）】\n受理工单 10"
    with serving_posts(robot) as url, caplog.at_level(logging.WARNING):
        settings = Settings(alert_sinks="log,webhook", alert_webhook_url=f"{url}/robot/send?access_token=t")
        sent = send_summary(settings, _no_redis, "周报", text, NOW)
    assert [(s.sink, s.ok) for s in sent] == [("log", True), ("webhook", True)]
    assert posted == [
        {"path": "/robot/send?access_token=t", "body": {"msgtype": "text", "text": {"content": text}}}
    ]
    assert "REPORT 【营商效能督办通报（周报）】 / 受理工单 10" in caplog.text
    with serving_posts(refusing) as url:
        settings = Settings(alert_sinks="webhook,carrier-pigeon", alert_webhook_url=url)
        sent = send_summary(settings, _no_redis, "周报", text, NOW)
    assert [(s.sink, s.ok) for s in sent] == [("webhook", False), ("carrier-pigeon", False)]
    assert "310000" in sent[0].detail


def _no_redis() -> redis.Redis:
    raise AssertionError("no redis sink configured")


def test_hot_spots_from_a_connected_source_fill_the_sheet_and_the_page() -> None:
    period = report_period(ReportKind.weekly, "2026-W48", NOW)
    spot = HotSpot(
        street="street-xingchenglu",
        category="building_project",
        heat=6.5,
        enterprises=9,
        ticket_ids=("ZTC-20261127-0000000A", "ZTC-20261127-0000000B"),
        suggestion="建议召开联席会议",
    )
    report = build_report(period, NOW, [], [], POLICY, hot_spots=[spot])
    names = department_names(POLICY)
    rows = list(
        report_workbook(report, names, level_labels(POLICY))["热点 Hot spots"].iter_rows(values_only=True)
    )
    assert rows[1][:4] == ("兴城路街道办事处", "building_project", 6.5, 9)
    assert rows[1][4] == "ZTC-20261127-0000000A、ZTC-20261127-0000000B"
    page = render_report_html(make_templates(POLICY).env, report, POLICY)
    hot = page.split('id="hot-spots"')[1]
    assert "兴城路街道办事处" in hot and "建议召开联席会议" in hot and "not connected" not in hot
    assert "/dashboard" not in page.split("<main>")[0]  # the written file has no dashboard tools


def test_the_worker_s_hot_spots_are_read_for_the_period_they_fall_in() -> None:
    from tests.unit.test_hotspot_page import spot

    detected = spot()  # four requests on 2026-11-27
    source = DetectedHotSpots(lambda: [detected])
    week = report_period(ReportKind.weekly, "2026-W48", NOW).period  # 11-23 … 11-29
    [found] = source.hot_spots(week)
    assert (found.street, found.category, found.enterprises) == ("street-loushan", "transport", 3)
    assert found.ticket_ids[0] == "ZTC-20261127-00000003" and found.suggestion == detected.suggestion_text
    assert source.hot_spots(report_period(ReportKind.weekly, "2026-W47", NOW).period) == []
