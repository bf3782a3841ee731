"""The department loop on the embedded stack: accept, co-handle, await, resolve, rate, bounce, dispatch."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from consumers.ticket_store import RedisTicketStore
from consumers.topic_reader import read_topic
from producers.department_client import DepartmentClient
from producers.publisher import TicketPublisher, build_submission
from schemas.events import now_in_district
from schemas.feedback import BounceReason, DepartmentAction, RatedBy, Rating
from schemas.policy import load_policy
from schemas.settings import Settings
from schemas.ticket import TicketRecord, TicketStatus
from tests.integration.conftest import Services, WaitFor, wait_for_status, ztc
from ztc.bootstrap import DEFAULT_POLICY

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(settings: Settings, store: RedisTicketStore) -> Iterator[DepartmentClient]:
    publisher = TicketPublisher(settings.kafka_bootstrap, settings.topics.submitted)
    codes = load_policy(DEFAULT_POLICY).department_codes
    yield DepartmentClient(store, publisher, settings.topics.feedback, codes, now_in_district)
    publisher.close()


def submit(settings: Settings, **fields: str) -> str:
    submission = build_submission({"channel": "wechat_group", **fields}, now_in_district())
    publisher = TicketPublisher(settings.kafka_bootstrap, settings.topics.submitted)
    try:
        publisher.publish(submission)
    finally:
        publisher.close()
    return submission.ticket_id


def recorded(client: DepartmentClient, event: DepartmentAction) -> TicketRecord:
    record = client.wait_recorded(event, timeout_s=30)
    assert record is not None, f"{event.event_type} was not recorded"
    assert record.history[-1].event_id == event.event_id
    return record


def test_a_ticket_walks_the_whole_loop(
    settings: Settings,
    services: Services,
    client: DepartmentClient,
    store: RedisTicketStore,
    wait_for_ticket: WaitFor,
) -> None:
    ticket_id = submit(
        settings,
        text="项目急需办理土石方施工许可证，材料不清楚",
        street="李村街道",
        enterprise_name="康杰药业",
    )
    record = wait_for_ticket(ticket_id, 60)
    assert (record.lead_department, record.co_departments) == ("approval", ("construction", "street-licun"))

    accepted = ztc(settings, "accept", ticket_id, "--as", "approval", "--actor", "王科长", check=True)
    assert "已记录" in accepted.stdout
    assert wait_for_status(store, ticket_id, TicketStatus.accepted).history[-1].actor == "王科长"
    inbox = json.loads(ztc(settings, "inbox", "approval", "--json", check=True).stdout)
    assert ticket_id in [t["ticket_id"] for t in inbox["in_progress"]]
    assert ticket_id not in [t["ticket_id"] for t in inbox["new"]]

    record = recorded(client, client.co_done(ticket_id, "construction", "李工", "施工图审查意见已反馈"))
    assert record.status is TicketStatus.accepted
    record = recorded(client, client.request_info(ticket_id, "approval", "王科长", "请补充土方量测算报告"))
    assert record.status is TicketStatus.awaiting_enterprise
    inbox = json.loads(ztc(settings, "inbox", "approval", "--json", check=True).stdout)
    assert ticket_id in [t["ticket_id"] for t in inbox["awaiting_enterprise"]]
    record = recorded(client, client.supply_info(ticket_id, "enterprise", "苏超", "测算报告已上传"))
    assert record.status is TicketStatus.in_progress

    before = store.get(ticket_id)
    refused = ztc(settings, "resolve", ticket_id, "--as", "approval", "--resolution", "已发证")
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1 and "street-licun" in refused.stderr
    assert store.get(ticket_id) == before

    recorded(client, client.co_done(ticket_id, "street-licun", "街道", "已协调现场"))
    record = recorded(client, client.resolve(ticket_id, "approval", "王科长", "土石方施工许可证已核发"))
    assert record.status is TicketStatus.resolved
    open_inbox = json.loads(ztc(settings, "inbox", "approval", "--json", check=True).stdout)
    assert ticket_id not in [t["ticket_id"] for bucket in open_inbox.values() for t in bucket]

    record = recorded(
        client, client.rate(ticket_id, RatedBy.enterprise, "苏超", Rating.unsatisfied, "现场仍有问题")
    )
    assert record.status is TicketStatus.in_progress and record.lead_department == "approval"
    assert record.reopen_count == 1
    record = recorded(client, client.resolve(ticket_id, "approval", "王科长", "现场问题已解决", None))
    record = recorded(client, client.rate(ticket_id, RatedBy.enterprise, "苏超", Rating.satisfied, "满意"))
    assert record.status is TicketStatus.closed

    again = ztc(settings, "rate", ticket_id, "--rating", "satisfied")
    assert again.returncode != 0 and again.stderr.startswith("拒绝 / refused:")
    assert store.get(ticket_id) == record
    kinds = [h.event_type for h in record.history]
    assert kinds == [
        "TicketRouted",
        "TicketAccepted",
        "CoDepartmentDone",
        "InformationRequested",
        "InformationSupplied",
        "CoDepartmentDone",
        "TicketResolved",
        "SatisfactionRated",
        "TicketResolved",
        "SatisfactionRated",
    ]
    shown = ztc(settings, "ticket", "show", ticket_id, check=True).stdout
    assert "[回访] 企业(enterprise): 回访：满意" in shown and "[SatisfactionRated]" not in shown
    assert "康杰药业" in shown
    assert "时限 SLA: 一般" in shown and "区住房和城乡建设局(construction) 协办" in shown
    file = json.loads(ztc(settings, "enterprise", "show", "康杰药业", "--json", check=True).stdout)
    assert file["key_enterprise"] and ticket_id in [t["ticket_id"] for t in file["tickets"]]


def test_a_bounced_ticket_is_rerouted_then_dispatched_by_hand(
    settings: Settings,
    services: Services,
    client: DepartmentClient,
    store: RedisTicketStore,
    wait_for_ticket: WaitFor,
) -> None:
    ticket_id = submit(settings, text="我们想办理食品经营许可证，一直没有回音")
    assert wait_for_ticket(ticket_id, 60).lead_department == "approval"
    client.bounce(ticket_id, "approval", "王科长", BounceReason.not_our_remit, "许可已办，实为食品抽检问题")
    record = wait_for_status(store, ticket_id, TicketStatus.triage)
    assert record.lead_department == "office" and record.bounced_by == ("approval",)

    dispatched = ztc(settings, "dispatch", ticket_id, "--lead", "market", "--co", "street-licun", check=True)
    assert "已记录" in dispatched.stdout
    record = wait_for_status(store, ticket_id, TicketStatus.routed)
    assert (record.lead_department, record.co_departments) == ("market", ("street-licun",))
    assert [h.event_type for h in record.history] == [
        "TicketRouted",
        "TicketBounced",
        "TicketRouted",
        "TicketDispatched",
    ]
    notified = [
        json.loads(m.value)
        for m in read_topic(settings.kafka_bootstrap, settings.topics.department("market"))
    ]
    assert any(n["ticket_id"] == ticket_id and n["type"] == "TicketDispatched" for n in notified)

    not_involved = ztc(settings, "accept", ticket_id, "--as", "approval")
    assert not_involved.returncode != 0 and not_involved.stderr.count("\n") == 1
    assert store.get(ticket_id) == record


def test_convene_adds_departments_and_notifies_them(
    settings: Settings, services: Services, client: DepartmentClient, wait_for_ticket: WaitFor
) -> None:
    ticket_id = submit(settings, text="项目用电增容迟迟不能落实，影响投产", project_name="粤浦科创中心")
    assert wait_for_ticket(ticket_id, 60).lead_department == "development"
    record = recorded(
        client, client.convene(ticket_id, "区府办", ("investment", "street-xingchenglu"), "周调度会")
    )
    assert {"investment", "street-xingchenglu"} <= set(record.co_departments)
    notified = read_topic(settings.kafka_bootstrap, settings.topics.department("investment"))
    assert any(json.loads(m.value)["ticket_id"] == ticket_id for m in notified)
    project = json.loads(ztc(settings, "project", "show", "粤浦科创中心", "--json", check=True).stdout)
    assert ticket_id in [t["ticket_id"] for t in project["tickets"]]


def test_an_extension_moves_the_resolve_deadline(
    settings: Settings,
    services: Services,
    client: DepartmentClient,
    store: RedisTicketStore,
    wait_for_ticket: WaitFor,
) -> None:
    ticket_id = submit(settings, text="建设工程规划许可证迟迟未核发，影响开工")
    routed = wait_for_ticket(ticket_id, 60)
    assert routed.lead_department == "planning" and routed.sla is not None
    before = routed.sla.resolve_due_at
    recorded(client, client.accept(ticket_id, "planning", "李"))
    ztc(
        settings,
        "extend",
        ticket_id,
        "--as",
        "planning",
        "--by",
        "5 working days",
        "--reason",
        "等测绘",
        check=True,
    )
    approved = ztc(settings, "approve-extension", ticket_id, check=True)
    assert "已记录" in approved.stdout
    record = store.get(ticket_id)
    assert record is not None and record.sla is not None and record.sla.extensions == 1
    assert record.sla.resolve_due_at > before
    assert "批准延期 5 working days" in record.history[-1].summary
