"""End to end on the embedded stack: kafka-python intake → Faust router → dept topics → Redis."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from consumers.topic_reader import read_topic
from producers.demo import DEMO_TICKETS
from producers.file_intake import read_import_file, submission_fields
from producers.publisher import TicketPublisher, build_submission
from schemas.events import TicketRouted, TicketSubmitted, now_in_district
from schemas.settings import Settings
from tests.integration.conftest import Services, WaitFor, wait_for_log, ztc

pytestmark = pytest.mark.integration


def publish(settings: Settings, *submissions: TicketSubmitted) -> None:
    publisher = TicketPublisher(settings.kafka_bootstrap, settings.topics.submitted)
    try:
        publisher.publish_many(list(submissions))
    finally:
        publisher.close()


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def routed_on(settings: Settings, topic: str) -> list[TicketRouted]:
    return [TicketRouted.model_validate_json(m.value) for m in read_topic(settings.kafka_bootstrap, topic)]


def test_tickets_reach_their_departments_inbox_and_ticket_show(
    settings: Settings, services: Services, wait_for_ticket: WaitFor
) -> None:
    now = now_in_district()
    submissions = [build_submission(fields, now) for fields in DEMO_TICKETS]
    publish(settings, *submissions)
    records = {s.ticket_id: wait_for_ticket(s.ticket_id, 60) for s in submissions}

    kangjie, huiyu, zhenai, vague = (records[s.ticket_id] for s in submissions)
    assert kangjie.lead_department == "approval"
    assert "street-licun" in kangjie.co_departments
    assert huiyu.lead_department == "street-xingchenglu"
    assert {"approval", "planning"} <= set(huiyu.co_departments)
    assert zhenai.lead_department == "street-fushanlu"
    assert {"health", "disabled", "civil"} <= set(zhenai.co_departments)
    assert vague.lead_department == "office" and vague.manual_triage

    for record in records.values():
        for department in record.departments:
            on_topic = routed_on(settings, settings.topics.department(department))
            assert record.ticket_id in {e.ticket_id for e in on_topic}, department

    inbox = json.loads(ztc(settings, "inbox", "approval", "--json", check=True).stdout)
    assert kangjie.ticket_id in [t["ticket_id"] for t in inbox["new"]]
    shown = json.loads(ztc(settings, "ticket", "show", huiyu.ticket_id, "--json", check=True).stdout)
    assert shown["status"] == "routed"
    assert shown["lead_department"] == "street-xingchenglu"
    assert shown["category"] == "coordination" and shown["priority"] == "high"
    assert [h["event_type"] for h in shown["history"]] == ["TicketRouted"]
    text = ztc(settings, "ticket", "show", huiyu.ticket_id, check=True).stdout
    assert "兴城路街道办事处" in text and "时间线" in text


def test_garbage_and_invalid_schema_are_dead_lettered_while_routing_goes_on(
    settings: Settings, services: Services, wait_for_ticket: WaitFor
) -> None:
    publisher = TicketPublisher(settings.kafka_bootstrap, settings.topics.submitted)
    garbage = b"\x00\xffnot json"
    invalid = json.dumps({"type": "TicketSubmitted", "channel": "fax", "text": ""}).encode()
    try:
        publisher.publish_raw(garbage)
        publisher.publish_raw(invalid)
    finally:
        publisher.close()
    after = build_submission(
        {"text": "办理个转企需要准备哪些材料？", "channel": "web_form"}, now_in_district()
    )
    publish(settings, after)
    assert wait_for_ticket(after.ticket_id, 30).lead_department == "approval"

    deadline = time.monotonic() + 20
    while True:
        letters = json.loads(ztc(settings, "deadletter", "--json", check=True).stdout)
        originals = {d["original_sha256"]: d for d in letters}  # the bytes are kept, not shown
        if (digest(garbage) in originals and digest(invalid) in originals) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert originals[digest(garbage)]["reason"].startswith("not JSON")
    reason = originals[digest(invalid)]["reason"]
    assert "channel" in reason and "text" in reason
    assert originals[digest(invalid)]["stage"] == "validate"
    assert "original_b64" not in originals[digest(invalid)]
    readable = ztc(settings, "deadletter", check=True).stdout
    assert "not JSON" in readable


def test_same_channel_message_published_twice_is_one_ticket(
    settings: Settings, services: Services, wait_for_ticket: WaitFor
) -> None:
    fields = {
        "text": "我们的营业执照经营范围变更一直没有办下来",
        "channel": "wechat_group",
        "channel_message_id": "wx-42",
    }
    first = build_submission(fields, now_in_district())
    second = build_submission(fields, now_in_district())
    assert first.event_id != second.event_id
    publish(settings, first)
    publish(settings, second)
    record = wait_for_ticket(first.ticket_id, 30)
    wait_for_log(services, "router", f"duplicate of {first.ticket_id}")
    routed = [e for e in routed_on(settings, settings.topics.routed) if e.ticket_id == first.ticket_id]
    assert len(routed) == 1
    assert len(record.history) == 1


def test_recorder_restart_neither_loses_nor_doubles(
    settings: Settings, services: Services, wait_for_ticket: WaitFor
) -> None:
    services.stop("recorder")
    now = now_in_district()
    batch = [
        build_submission({"text": f"第{i}件：社保缴费基数调整咨询", "channel": "hotline"}, now)
        for i in range(20)
    ]
    publish(settings, *batch)
    services.start("recorder")
    records = [wait_for_ticket(s.ticket_id, 60) for s in batch]
    assert all(len(r.history) == 1 and r.lead_department == "hrss" for r in records)


def test_import_publishes_good_rows_and_lists_bad_ones(
    settings: Settings, services: Services, wait_for_ticket: WaitFor, tmp_path: Path
) -> None:
    rows = [
        {"text": "我们的营业执照需要办理注销登记", "channel": "web_form", "channel_message_id": "imp-1"},
        {
            "text": "公司招工需要参加区里的招聘会，怎么报名",
            "channel": "web_form",
            "channel_message_id": "imp-2",
        },
        {"text": "", "channel": "web_form", "channel_message_id": "imp-3"},
    ]
    source = tmp_path / "tickets.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in rows] + ["{broken"]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ztc(settings, "import", str(source))
    assert result.returncode == 1
    assert "已发布 published 2，重复 duplicates 0（" in result.stdout and "错误行 bad rows 2" in result.stdout
    assert "第 3 行 row 3: 诉求内容 text: 必填 is required" in result.stderr
    assert "第 4 行 row 4: 不是合法的 JSON not JSON" in result.stderr
    for row in rows[:2]:
        submission = build_submission(row, now_in_district())
        assert (
            wait_for_ticket(submission.ticket_id, 30).submission.channel_message_id
            == row["channel_message_id"]
        )
    again = ztc(settings, "import", str(source))
    assert "已发布 published 0，重复 duplicates 2（已有记录" in again.stdout


def test_reimporting_a_gbk_csv_without_message_ids_publishes_nothing_new(
    settings: Settings, services: Services, wait_for_ticket: WaitFor, tmp_path: Path
) -> None:
    """Excel's CSV on a Chinese Windows is GBK and has no message ids: a second import finds every row."""
    source = tmp_path / "诉求汇总.csv"
    table = (
        "序号,标题,诉求内容,企业名称,所在街道\r\n"
        "1,注销登记,我们的营业执照需要办理注销登记（急）,青岛海德精密机械有限公司,兴城路街道\r\n"
        "2,招聘会,公司招工需要参加区里的招聘会，怎么报名,惠昱电子,\r\n"
        "3,,,惠昱电子,\r\n"
    )
    source.write_bytes(table.encode("gbk"))
    first = ztc(settings, "import", str(source), "--channel", "web_form")
    assert "已发布 published 2，重复 duplicates 0（" in first.stdout, first.stderr
    assert "GB18030/GBK" in first.stderr and "忽略未知列 ignored columns: 序号" in first.stderr
    assert "第 4 行 row 4: 诉求内容 text: 必填 is required" in first.stderr
    again = ztc(settings, "import", str(source), "--channel", "web_form")
    assert "已发布 published 0，重复 duplicates 2（已有记录" in again.stdout, again.stderr
    now = now_in_district()
    for row in read_import_file(source).rows[:2]:
        submission = build_submission(submission_fields(row, "web_form"), now)
        record = wait_for_ticket(submission.ticket_id, 60)
        assert record.submission.text == row.fields["text"]  # full-width （急） as written
