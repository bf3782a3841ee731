"""The router's steps without Faust: routed to the lead's topic, dead-lettered with a reason, routed once."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry

from schemas.events import DeadLettered, RerouteRequested, TicketRouted
from schemas.settings import Settings
from streams.intake import parse_submission
from streams.metrics import RouterMetrics
from streams.router_steps import Origin, RouterSteps, SeenMessages, Send, StepOutput, event_bytes
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

POLICY = load_checked_policy(DEFAULT_POLICY)
TOPICS = Settings().topics
SUBMITTED = Origin(TOPICS.submitted, partition=2, offset=41)


def make_steps() -> tuple[RouterSteps, CollectorRegistry]:
    registry = CollectorRegistry()
    return RouterSteps(TOPICS, POLICY, lambda: NOW, RouterMetrics.registered_in(registry)), registry


def dead(out: StepOutput) -> DeadLettered:
    [send] = out.sends
    assert send.topic == TOPICS.deadletter and send.key is None
    return DeadLettered.model_validate_json(send.value)


def raw(text: str = "我们想办理食品经营许可证", **fields: object) -> bytes:
    return submission(text, **fields).model_dump_json().encode()


def test_a_valid_submission_is_routed_to_tickets_routed_and_the_lead_department() -> None:
    steps, registry = make_steps()
    out = steps.route(raw(), SUBMITTED, SeenMessages())
    routed = TicketRouted.model_validate_json(out.sends[0].value)
    assert routed.lead_department == "approval"  # 食品经营许可证: the licensing hall
    expected = [TOPICS.routed, *(TOPICS.department(code) for code in routed.departments)]
    assert [s.topic for s in out.sends] == expected and TOPICS.department("approval") in expected
    assert all(s.key == routed.ticket_id.encode() and s.value == out.sends[0].value for s in out.sends)
    assert out.remember == (routed.submission.dedupe_key, routed.ticket_id)
    assert registry.get_sample_value("ztc_events_in_total", {"topic": TOPICS.submitted}) == 1.0
    assert registry.get_sample_value("ztc_events_out_total", {"topic": TOPICS.routed}) == 1.0


def test_the_ticket_id_is_derived_from_the_channel_message_never_taken_from_input() -> None:
    steps, _ = make_steps()
    out = steps.route(raw(ticket_id="ZTC-20261127-FFFFFFFFFFFF"), SUBMITTED, SeenMessages())
    routed = TicketRouted.model_validate_json(out.sends[0].value)
    assert routed.ticket_id != "ZTC-20261127-FFFFFFFFFFFF" and routed.submission.ticket_id == routed.ticket_id
    assert out.sends[0].key == routed.ticket_id.encode()


def test_co_departments_get_their_copy_too() -> None:
    steps, _ = make_steps()
    out = steps.route(raw("李村街道的餐饮店办理食品经营许可证"), SUBMITTED, SeenMessages())
    routed = TicketRouted.model_validate_json(out.sends[0].value)
    assert (routed.lead_department, routed.co_departments) == ("approval", ("street-licun",))
    assert [s.topic for s in out.sends] == [
        TOPICS.routed,
        TOPICS.department("approval"),
        TOPICS.department("street-licun"),
    ]


def test_the_bytes_sent_are_those_model_dump_json_writes() -> None:
    """Consumers read exactly what they read before the router serialised straight to bytes."""
    steps, _ = make_steps()
    texts = [
        "我们想办理食品经营许可证",
        "李村街道的餐饮店办理食品经营许可证",
        "路灯不亮\t“急”\n😀",
        "x" * 4000,
    ]
    for index, text in enumerate(texts):
        out = steps.route(raw(text, channel_message_id=f"m-{index}"), SUBMITTED, SeenMessages())
        routed = TicketRouted.model_validate_json(out.sends[0].value)
        assert out.sends[0].value == routed.model_dump_json().encode() == event_bytes(routed)
    letter = dead(steps.route(b"\xff\x00", SUBMITTED, SeenMessages()))
    assert event_bytes(letter) == letter.model_dump_json().encode()


def test_a_malformed_submission_goes_to_the_dead_letter_topic_with_its_reason() -> None:
    steps, registry = make_steps()
    for bad, reason in [
        (b"{not json", "not JSON"),
        (b'{"type": "TicketRouted"}', "wrong event type 'TicketRouted'"),
        (b'{"channel": "fax", "text": "x"}', "schema: "),
        (b"", "empty message"),
    ]:
        letter = dead(steps.route(bad, SUBMITTED, SeenMessages()))
        assert letter.reason.startswith(reason) and letter.stage == "validate"
        assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
            TOPICS.submitted,
            2,
            41,
        )
        assert letter.original_preview == bad.decode(errors="replace")[: len(letter.original_preview)]
    assert registry.get_sample_value("ztc_dead_letters_total", {"stage": "validate"}) == 4.0


def test_a_repeated_channel_message_is_routed_once_while_remembered() -> None:
    steps, _ = make_steps()
    seen = SeenMessages()
    first = steps.route(raw(), SUBMITTED, seen)
    assert first.remember is not None
    seen.remember(*first.remember)  # what the agent does before it routes the next message
    again = steps.route(raw(), SUBMITTED, seen)
    assert again == StepOutput()
    later = steps.route(raw(channel_message_id="m-2"), SUBMITTED, seen)
    assert later.sends and later.sends[0].key != first.sends[0].key


def test_the_seen_messages_forget_the_oldest_beyond_their_capacity() -> None:
    seen = SeenMessages(capacity=2)
    for key in ("a", "b", "c"):
        seen.remember(key, f"ticket-{key}")
    assert (seen.get("a"), seen.get("b"), seen.get("c"), len(seen)) == (None, "ticket-b", "ticket-c", 2)


def test_the_seen_messages_forget_what_is_older_than_the_window() -> None:
    clock = [NOW]
    seen = SeenMessages(window=timedelta(days=30), clock=lambda: clock[0])
    seen.remember("old", "ticket-old")
    clock[0] = NOW + timedelta(days=29)
    seen.remember("recent", "ticket-recent")
    assert (seen.get("old"), seen.get("recent")) == ("ticket-old", "ticket-recent")
    clock[0] = NOW + timedelta(days=30, seconds=1)
    assert seen.get("old") is None  # past the window: routed again, the recorder keeps it one ticket
    seen.remember("new", "ticket-new")
    assert len(seen) == 2 and seen.get("recent") == "ticket-recent"


def test_a_message_remembered_again_moves_to_the_young_end() -> None:
    seen = SeenMessages(capacity=2)
    for key in ("a", "b", "a", "c"):
        seen.remember(key, f"ticket-{key}")
    assert (seen.get("a"), seen.get("b"), seen.get("c")) == ("ticket-a", None, "ticket-c")


def test_the_policy_sets_the_router_window_in_days() -> None:
    assert POLICY.dedupe_window_days == 30
    assert POLICY.model_copy(update={"dedupe_window_days": 7}).dedupe_window_days == 7


def test_a_reroute_request_routes_again_without_the_departments_that_bounced_it() -> None:
    steps, _ = make_steps()
    sub = parse_submission(raw())
    request = RerouteRequested(
        ticket_id=sub.ticket_id,
        occurred_at=NOW,
        submission=sub,
        excluded_departments=("approval",),
        reason="不属本部门",
        bounce_event_id="bounce-1",
    )
    out = steps.reroute(request.model_dump_json().encode(), Origin(TOPICS.reroute))
    routed = TicketRouted.model_validate_json(out.sends[0].value)
    assert routed.lead_department != "approval" and routed.reroute_request_id == request.event_id
    assert Send(TOPICS.department("approval"), routed.ticket_id.encode(), out.sends[0].value) not in out.sends
    assert out.remember is None
    assert dead(steps.reroute(b"[]", Origin(TOPICS.reroute))).stage == "reroute"
