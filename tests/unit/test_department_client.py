"""DepartmentClient against the in-memory ticket store and publisher: checked first, published once."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from consumers.ticket_store import InMemoryTicketStore
from producers.department_client import DepartmentClient, method_signature
from producers.publisher import InMemoryPublisher, Publisher, TicketPublisher
from schemas.actions import ACTIONS, ACTIONS_BY_NAME, ActionError
from schemas.events import Priority, TicketRouted
from schemas.feedback import (
    BounceReason,
    CoDepartmentDone,
    ExtensionRequested,
    JointMeetingConvened,
    RatedBy,
    Rating,
    SatisfactionRated,
    TicketAccepted,
    TicketDispatched,
)
from schemas.ticket import TicketStatus
from schemas.ticket_state import TransitionRefused
from tests.unit.factories import NOW, submission

TOPIC = "test.feedback"
DEPARTMENTS = ("office", "approval", "construction", "planning", "market")
TICKET = submission().ticket_id


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def setup(*, manual_triage: bool = False) -> tuple[DepartmentClient, InMemoryTicketStore, InMemoryPublisher]:
    store, publisher = InMemoryTicketStore(), InMemoryPublisher()
    store.record(
        TicketRouted(
            ticket_id=TICKET,
            occurred_at=NOW,
            submission=submission(),
            category="licence",
            confidence=0.3 if manual_triage else 0.9,
            lead_department="office" if manual_triage else "approval",
            co_departments=() if manual_triage else ("construction",),
            priority=Priority.normal,
            manual_triage=manual_triage,
            policy_version="test",
        )
    )
    return DepartmentClient(store, publisher, TOPIC, DEPARTMENTS, Clock()), store, publisher


def recorded(store: InMemoryTicketStore, publisher: InMemoryPublisher) -> None:
    """The recorder's part: apply what was published."""
    for event in publisher.events(TOPIC):
        store.record(event)


def test_the_in_memory_publisher_is_a_publisher_like_the_kafka_one() -> None:
    publishers: list[Publisher] = [InMemoryPublisher(), TicketPublisher("127.0.0.1:1", "t")]  # mypy checks
    assert all(callable(p.publish_event) for p in publishers)  # neither connects before it publishes


def test_an_allowed_action_is_published_once_to_the_feedback_topic() -> None:
    client, store, publisher = setup()
    event = client.accept(TICKET, "approval", "王科长", "已签收")
    assert isinstance(event, TicketAccepted) and event.department == "approval" and event.note == "已签收"
    [sent] = publisher.published
    assert (sent.topic, sent.key, sent.event) == (TOPIC, TICKET, event)
    assert TicketAccepted.model_validate_json(sent.value) == event
    assert client.wait_recorded(event, timeout_s=0) is None
    recorded(store, publisher)
    record = client.wait_recorded(event, timeout_s=1)
    assert record is not None and record.status is TicketStatus.accepted


def test_a_refused_action_raises_and_publishes_nothing() -> None:
    client, store, publisher = setup()
    before = store.get(TICKET)
    with pytest.raises(TransitionRefused, match="the lead must accept it first"):
        client.resolve(TICKET, "approval", "王科长", "已办结")
    with pytest.raises(TransitionRefused, match="only a co-department"):
        client.co_done(TICKET, "approval", "王科长", "done")
    assert publisher.published == [] and store.get(TICKET) == before


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.accept("ZTC-NOPE", "approval", "x"), "no ticket ZTC-NOPE"),
        (lambda c: c.accept(TICKET, "nobody", "x"), "unknown department 'nobody'"),
        (
            lambda c: c.bounce(TICKET, "approval", "x", BounceReason.not_our_remit, "n", "nowhere"),
            "unknown department 'nowhere'",
        ),
        (lambda c: c.dispatch(TICKET, "x", "market", ("ghost",)), "unknown department 'ghost'"),
        (lambda c: c.convene(TICKET, "x", ("planning", "ghost"), "会"), "unknown department 'ghost'"),
        (lambda c: c.extend(TICKET, "approval", "x", "a while", "r"), "extension: cannot parse"),
    ],
)
def test_what_cannot_be_taken_is_an_action_error(
    call: Callable[[DepartmentClient], object], message: str
) -> None:
    client, _, publisher = setup()
    with pytest.raises(ActionError, match=message):
        call(client)
    assert publisher.published == []


def test_the_department_is_filled_as_the_registry_says() -> None:
    client, store, publisher = setup(manual_triage=True)
    dispatched = client.dispatch(TICKET, "派单台", "market", ("planning",))
    assert isinstance(dispatched, TicketDispatched) and dispatched.department == "office"
    assert dispatched.co_departments == ("planning",)
    recorded(store, publisher)
    convened = client.convene(TICKET, "督办科", ("construction",), "联席会议")
    assert isinstance(convened, JointMeetingConvened) and convened.department == "office"

    client, store, publisher = setup()
    store.record(client.accept(TICKET, "approval", "王"))
    store.record(client.co_done(TICKET, "construction", "李", "已完成"))
    store.record(client.resolve(TICKET, "approval", "王", "已办结"))
    rated = client.rate(TICKET, RatedBy.office, "回访员", Rating.satisfied)
    assert isinstance(rated, SatisfactionRated) and rated.department == "office"
    assert rated.rated_by is RatedBy.office
    by_default = client.perform(ACTIONS_BY_NAME["rate"], TICKET, "苏超", {"rating": "satisfied"})
    assert isinstance(by_default, SatisfactionRated) and by_default.department == "enterprise"
    assert by_default.rated_by is RatedBy.enterprise


def test_perform_runs_any_entry() -> None:
    client, store, _ = setup()
    store.record(client.accept(TICKET, "approval", "王"))
    extension = client.perform(
        ACTIONS_BY_NAME["extend"],
        TICKET,
        "王",
        {"extension": "5 working days", "reason": "等测绘"},
        "approval",
    )
    assert isinstance(extension, ExtensionRequested) and extension.extension == "5 working days"
    done = client.perform(ACTIONS_BY_NAME["co_done"], TICKET, "李", {"note": "好"}, "construction")
    assert isinstance(done, CoDepartmentDone)
    with pytest.raises(ActionError, match="which department acts"):
        client.perform(ACTIONS_BY_NAME["accept"], TICKET, "王", {})


def test_the_generated_methods_keep_the_old_parameters() -> None:
    """The hand-written methods these replace took exactly these parameters, in this order."""
    old = {
        "accept": "(ticket_id, department, actor, note=None)",
        "progress": "(ticket_id, department, actor, note)",
        "request_info": "(ticket_id, department, actor, question)",
        "supply_info": "(ticket_id, department, actor, content)",
        "bounce": "(ticket_id, department, actor, reason, note, suggested_department=None)",
        "co_done": "(ticket_id, department, actor, note)",
        "resolve": "(ticket_id, department, actor, resolution, override_reason=None)",
        "reopen": "(ticket_id, actor, reason)",
        "dispatch": "(ticket_id, actor, lead_department, co_departments=None, note=None)",
        "convene": "(ticket_id, actor, departments, note)",
        # 回访's questions came later, appended with defaults: every old call still means the same
        "rate": "(ticket_id, rated_by, actor, rating, comment=None, "
        "contacted=None, solved=None, final_answer=None)",
        "extend": "(ticket_id, department, actor, extension, reason)",
        "approve_extension": "(ticket_id, actor, note=None)",
    }
    new = {
        "reject_extension": "(ticket_id, actor, reason)",
        "request_withdrawal": "(ticket_id, department, actor, reason)",
        "approve_withdrawal": "(ticket_id, actor, withdrawing=None, note=None)",
        "refuse_withdrawal": "(ticket_id, actor, reason, withdrawing=None)",
        "merge": "(ticket_id, actor, into, note=None)",
        "close_invalid": "(ticket_id, actor, kind, reason)",
    }
    assert {spec.name: str(method_signature(spec)) for spec in ACTIONS} == old | new
    client, _, _ = setup()
    assert str(inspect.signature(client.bounce)) == old["bounce"]
    with pytest.raises(TypeError):
        client.accept(TICKET)
    with pytest.raises(AttributeError, match="acept"):
        client.acept  # noqa: B018


def test_ticket_ids_are_found_whatever_case_people_type() -> None:
    client, store, publisher = setup()
    typed = f"  {TICKET.lower()} "
    assert TICKET.startswith("ZTC-") and store.get(typed) is not None
    event = client.accept(typed, "approval", "王科长")
    assert event.ticket_id == TICKET  # published under the id as stored
    assert [e.ticket_id for e in publisher.events(TOPIC)] == [TICKET]


def test_the_resolve_refusal_names_the_cli_flag_on_the_command_line() -> None:
    from ztc.feedback_cmd import in_cli_words

    client, store, _ = setup()
    store.record(client.accept(TICKET, "approval", "王科长"))
    with pytest.raises(TransitionRefused) as refused:
        client.resolve(TICKET, "approval", "王科长", "已核发")
    said = str(refused.value)
    assert "override_reason" in said  # the HTTP API's key
    on_cli = in_cli_words(said, ACTIONS_BY_NAME["resolve"])
    assert "--override REASON" in on_cli and "override_reason" not in on_cli
    assert "如需先行办结请用 --override REASON 说明理由" in on_cli
