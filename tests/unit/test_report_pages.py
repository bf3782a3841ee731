"""The dashboard's fixes and the report pages, in memory: overdue counted in tickets (stages as
detail), urgent tickets marked, the headline figures, the printable report and its .xlsx."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from io import BytesIO

import openpyxl
from fastapi.testclient import TestClient

from consumers.dashboard import bar_chart
from consumers.sla_engine import SlaBook
from consumers.supervision import daily_counts, period_of_days
from consumers.ticket_store import InMemoryTicketStore
from schemas.events import Priority
from streams.routing import route_ticket
from tests.unit.factories import NOW, submission
from tests.unit.test_web_pages import POLICY, Pages, pages, sign_in, web

__all__ = ["pages", "web"]

DRILL = "2026-12-12T10:00+08:00"


def _late_urgent_ticket(pages: Pages, at: datetime = NOW) -> str:
    """An urgent ticket never accepted: by the drill moment its accept and resolve stages are both late."""
    pages.tickets = InMemoryTicketStore(book=SlaBook(POLICY))
    ticket = submission(ticket_id="ZTC-20261127-0000000A", channel_message_id="m-a")
    routed = route_ticket(ticket, POLICY, at)
    pages.tickets.record(routed.model_copy(update={"priority": Priority.urgent}))
    return routed.ticket_id


def _section(html: str, name: str) -> str:
    return html.split(f'id="{name}"')[1].split("</section>")[0]


def test_the_overview_counts_overdue_tickets_lists_stages_and_marks_urgent_ones(
    web: TestClient, pages: Pages
) -> None:
    late = _late_urgent_ticket(pages)
    sign_in(web, "zhao")
    page = web.get("/dashboard", params={"now": DRILL}).text
    headline, overdue = _section(page, "headline"), _section(page, "overdue")
    assert 'data-key="overdue"><span class="label">超期工单' in headline
    overdue_figure = headline.split('data-key="overdue"')[1].split("</div>")[0]
    assert '<span class="value">1</span>' in overdue_figure and "2 个超期环节" in overdue_figure
    assert '<span class="count" title="工单数 tickets">1</span>' in overdue
    assert overdue.count(f">{late}</a>") == 2  # one row per stage, under one ticket count
    assert "紧急 urgent" in overdue and 'class="is-urgent"' in overdue
    assert 'href="/dashboard/report?kind=monthly"' in headline


def test_the_office_reads_the_printable_report_and_downloads_its_workbook(
    web: TestClient, pages: Pages
) -> None:
    _late_urgent_ticket(pages)
    pages.clock.now = datetime.fromisoformat(DRILL)
    sign_in(web, "zhao")
    page = web.get("/dashboard/report", params={"kind": "weekly", "period": "2026-W50"})
    assert page.status_code == 200
    assert "营商效能督办通报（周报）2026年第50周（12月7日—12月13日）" in page.text
    assert "紧急 urgent" in _section(page.text, "overdue")
    assert "本期没有热点" in page.text  # the worker's reader: none kept in an in-memory store
    workbook = web.get("/dashboard/report.xlsx", params={"kind": "weekly", "period": "2026-W50"})
    assert workbook.status_code == 200
    assert "ztc-report-weekly-2026-W50.xlsx" in workbook.headers["content-disposition"]
    book = openpyxl.load_workbook(BytesIO(workbook.content))
    assert book["超期督办 Overdue"].max_row == 2  # the header and the one late ticket
    assert web.get("/dashboard/report", params={"period": "soon"}).status_code == 400


def test_a_department_may_not_read_the_supervision_report(web: TestClient) -> None:
    sign_in(web, "wangkz")
    assert web.get("/dashboard/report").status_code == 403
    assert web.get("/dashboard/report.xlsx").status_code == 403


def test_a_department_s_headline_counts_only_its_own_tickets(web: TestClient, pages: Pages) -> None:
    _late_urgent_ticket(pages, at=NOW - timedelta(days=30))  # led by approval, late by now

    def overdue_figure(username: str) -> str:
        sign_in(web, username)
        headline = _section(web.get("/dashboard").text, "headline")
        return headline.split('data-key="overdue"')[1].split("</div>")[0]

    assert '<span class="value">1</span>' in overdue_figure("wangkz")  # approval's clerk
    assert '<span class="value">0</span>' in overdue_figure("li")  # planning's
    assert "report-link" not in web.get("/dashboard").text


def test_the_chart_gives_each_category_its_own_colour_and_folds_the_rest_into_others() -> None:
    period = period_of_days(date(2026, 11, 2), date(2026, 11, 2))
    counters = {f"c|cat{i}": 10 - i for i in range(9)}  # nine categories, cat0 the most frequent
    chart = bar_chart(daily_counts({date(2026, 11, 2): counters}, period), {})
    names = [name for name, _ in chart.legend]
    assert names == [f"cat{i}" for i in range(7)] + ["其他 others"]
    assert len({colour for _, colour in chart.legend}) == 8  # no colour stands for two things
    assert [b.title for b in chart.bars if "其他" in b.title] == ["2026-11-02 其他 others: 5"]  # 3 + 2
