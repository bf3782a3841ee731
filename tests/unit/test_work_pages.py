"""The department inbox (/work) and the office desk (/desk) through FastAPI's TestClient on in-memory
stores: buckets, paging, filters and search, and that nobody ever lists a ticket they may not see."""

from __future__ import annotations

import io
from datetime import timedelta

from fastapi.testclient import TestClient

from consumers.list_export import XLSX_TYPE, as_text
from consumers.sla_engine import SlaBook
from consumers.ticket_store import InMemoryTicketStore
from consumers.work_pages import countdown, time_between
from schemas.events import TicketRouted
from schemas.feedback import TicketAccepted
from tests.unit.factories import NOW, submission
from tests.unit.test_web_pages import POLICY, TICKET, TRIAGE, Pages, pages, sign_in, web

__all__ = ["pages", "web"]


def routed(
    ticket_id: str, lead: str, co: tuple[str, ...] = (), minutes: int = 0, **fields: str
) -> TicketRouted:
    when = NOW + timedelta(minutes=minutes)
    return TicketRouted(
        ticket_id=ticket_id,
        occurred_at=when,
        submission=submission(ticket_id=ticket_id, channel_message_id=ticket_id, **fields),
        category="admin_licence",
        confidence=0.9,
        lead_department=lead,
        co_departments=co,
        priority="normal",
        policy_version="t",
    )


def many(pages: Pages, count: int, lead: str = "approval", tag: str = "", **fields: str) -> list[str]:
    ids = [f"ZTC-20261127-{tag or lead[:4].upper()}{n:04d}" for n in range(count)]
    for n, ticket_id in enumerate(ids):
        pages.tickets.record(routed(ticket_id, lead, (), n, **fields))
    return ids


def test_a_clerk_reads_the_inbox_a_page_at_a_time(web: TestClient, pages: Pages) -> None:
    ids = many(pages, 45)
    sign_in(web, "wangkz")
    first = web.get("/work")
    assert first.status_code == 200 and "共 46 件" in first.text  # the fixture's ticket and 45 more
    shown = [t for t in (TICKET, *ids) if t in first.text]
    assert shown == [TICKET, *ids[:19]]  # most urgent (oldest routing, no SLA clock) first
    assert 'rel="next" href="/work?start=20"' in first.text
    last = web.get("/work?start=40")
    assert [t for t in ids if t in last.text] == ids[39:] and 'rel="next"' not in last.text
    latest = web.get("/work?order=latest")
    assert ids[-1] in latest.text and TICKET not in latest.text


def test_a_clerk_sees_only_their_departments_inbox_and_search(web: TestClient, pages: Pages) -> None:
    others = many(pages, 3, lead="planning", enterprise_name="惠昱电子")
    sign_in(web, "wangkz")
    assert web.get("/work?department=planning").status_code == 404
    assert web.get("/work?department=approval").status_code == 200
    searched = web.get("/work", params={"q": "惠昱"})
    assert searched.status_code == 200 and not any(t in searched.text for t in others)
    opened = web.get("/work", params={"q": others[0].lower()})  # another department's id: not found
    assert opened.status_code == 200 and others[0] not in opened.text
    own = web.get("/work", params={"q": TICKET.lower()})  # an own id in any case opens the ticket
    assert own.status_code == 303 and own.headers["location"] == f"/dashboard/tickets/{TICKET}"
    sign_in(web, "li")
    planning = web.get("/work", params={"q": "惠昱"})
    assert all(t in planning.text for t in others) and TICKET not in planning.text


def test_filters_walk_the_bucket_and_offer_to_search_on(web: TestClient, pages: Pages) -> None:
    many(pages, 30)
    named = many(pages, 2, tag="KJYY", enterprise_name="康杰药业")
    sign_in(web, "wangkz")
    page = web.get("/work", params={"q": "康杰"})
    assert all(t in page.text for t in named) and "已查看" in page.text
    assert web.get("/work?priority=urgent").text.count("/dashboard/tickets/") == 0
    assert web.get("/work?from=2030-01-01").text.count("/dashboard/tickets/ZTC") == 0
    assert web.get("/work?from=yesterday").status_code == 400
    assert web.get("/work?bucket=nonsense").status_code == 400


def test_a_co_department_finds_its_accepted_share_under_co_handling(web: TestClient, pages: Pages) -> None:
    pages.tickets.record(
        TicketAccepted(ticket_id=TICKET, occurred_at=NOW, department="construction", actor="陈")
    )
    sign_in(web, "wangkz")
    assert TICKET in web.get("/work?bucket=new").text
    pages.accounts()  # construction's clerk is not in the fixture: read its inbox as the office
    sign_in(web, "zhao")
    co = web.get("/work?department=construction&bucket=co_handling")
    assert co.status_code == 200 and TICKET in co.text and "协办" in co.text
    assert TICKET not in web.get("/work?department=construction&bucket=new").text


def test_the_office_desk_lists_the_triage_queue_with_the_routers_suggestion(
    web: TestClient, pages: Pages
) -> None:
    sign_in(web, "wangkz")
    assert web.get("/desk").status_code == 404
    sign_in(web, "zhao")
    desk = web.get("/desk")
    assert desk.status_code == 200 and TRIAGE in desk.text and TICKET not in desk.text
    assert "区行政审批服务局" in desk.text and "置信度 20%" in desk.text
    assert web.get("/work").status_code == 200 and TRIAGE in web.get("/work").text  # the office's inbox
    sign_in(web, "root")
    assert web.get("/work").headers["location"] == "/admin/users"


def test_a_list_exports_to_excel_with_its_filters_and_nothing_the_viewer_may_not_see(
    web: TestClient, pages: Pages
) -> None:
    from openpyxl import load_workbook

    ids = many(pages, 25, title='=HYPERLINK("http://evil.example")')
    others = many(pages, 2, lead="planning")
    sign_in(web, "wangkz")
    page = web.get("/work")
    assert 'id="export" href="/work.xlsx?department=approval"' in page.text
    answer = web.get("/work.xlsx?department=approval")
    assert answer.status_code == 200 and answer.headers["content-type"] == XLSX_TYPE
    assert (
        "attachment" in answer.headers["content-disposition"]
        and "filename*=UTF-8''" in answer.headers["content-disposition"]
    )
    sheet = load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "工单号 Ticket" and len(rows) == 1 + 26  # every page, not the first 20
    listed = [row[0] for row in rows[1:]]
    assert set(ids) | {TICKET} == set(listed) and not set(others) & set(listed)
    title = next(row[1] for row in rows[1:] if row[0] == ids[0])
    assert title == '\'=HYPERLINK("http://evil.example")'  # kept as text, never a formula
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    assert web.get("/work.xlsx?department=planning").status_code == 404
    filtered = load_workbook(io.BytesIO(web.get("/work.xlsx", params={"q": ids[3]}).content)).active
    assert filtered is not None and [r[0] for r in filtered.iter_rows(min_row=2, values_only=True)] == [
        ids[3]
    ]


def test_formula_starts_are_kept_as_text() -> None:
    assert [as_text(v) for v in ("=1+1", "+86", "-3", "@x", "正常", 5, None)] == [
        "'=1+1",
        "'+86",
        "'-3",
        "'@x",
        "正常",
        5,
        None,
    ]


def test_the_printable_supervision_notice_names_the_late_stages_for_those_who_may_see_it(
    web: TestClient, pages: Pages
) -> None:
    pages.tickets.book = SlaBook(POLICY)
    late = "ZTC-20261127-0000LATE"
    pages.tickets.record(routed(late, "approval", ("planning",)))
    pages.clock.now = NOW + timedelta(days=30)
    sign_in(web, "zhao")
    notice = web.get(f"/dashboard/tickets/{late}/notice")
    assert notice.status_code == 200 and "营商效能督办单" in notice.text and f"DB-{late}" in notice.text
    assert "签收超期" in notice.text and "区行政审批服务局（主办）" in notice.text
    on_time = web.get(f"/dashboard/tickets/{TICKET}/notice")  # no clock: nothing overdue
    assert on_time.status_code == 200 and "当前无超期环节" in on_time.text
    sign_in(web, "li")  # planning co-handles it: may print it too
    assert web.get(f"/dashboard/tickets/{late}/notice").status_code == 200
    assert web.get(f"/dashboard/tickets/{TICKET}/notice").status_code == 404
    assert web.get("/dashboard/tickets/ZTC-20260101-00000000/notice").status_code == 404


def test_search_words_match_in_any_case_and_every_word_must_be_found(web: TestClient, pages: Pages) -> None:
    [latin] = many(pages, 1, tag="LATN", enterprise_name="Huiyu Electronics 惠昱")
    sign_in(web, "wangkz")
    assert latin in web.get("/work", params={"q": "huiyu ELECTRONICS"}).text
    assert latin in web.get("/work", params={"q": "惠昱 huiyu"}).text
    assert latin not in web.get("/work", params={"q": "惠昱 nowhere"}).text


def test_the_time_left_counts_working_time_for_working_day_limits_and_the_clock_for_hours() -> None:
    from tests.unit.store_contract import BOOK, FRIDAY_4PM, routed_at

    store = InMemoryTicketStore(book=BOOK)
    store.record(routed_at("ZTC-20261127-0000TIME", FRIDAY_4PM))
    ordinary = store.get("ZTC-20261127-0000TIME")
    assert ordinary is not None and ordinary.sla is not None and ordinary.sla.tier == "ordinary"
    urgent = ordinary.model_copy(update={"sla": ordinary.sla.model_copy(update={"tier": "urgent"})})
    saturday_10, saturday_noon = FRIDAY_4PM + timedelta(hours=18), FRIDAY_4PM + timedelta(hours=20)
    due = ordinary.sla.accept_due_at
    assert time_between(ordinary, due, saturday_10, saturday_noon, BOOK) == 0  # a weekend: no working time
    assert time_between(urgent, due, saturday_10, saturday_noon, BOOK) == 7200
    assert countdown(7200) == "2小时00分" and countdown(59 * 60) == "59分"
