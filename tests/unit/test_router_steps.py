"""The router's steps without Faust: routed to the lead's topic, dead-lettered with a reason, routed once."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from schemas.events import DeadLettered, RerouteRequested, TicketRouted, TicketSubmitted
from schemas.settings import Settings
from streams.metrics import RouterMetrics
from streams.router_steps import Origin, RouterSteps, Send, StepOutput
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

POLICY = load_checked_policy(DEFAULT_POLICY)
TOPICS = Settings().topics
SUBMITTED = Origin(TOPICS.submitted, partition=2, offset=41)
VALIDATED = Origin(TOPICS.validated, partition=1, offset=7)


def make_steps() -> tuple[RouterSteps, CollectorRegistry]:
    registry = CollectorRegistry()
    return RouterSteps(TOPICS, POLICY, lambda: NOW, RouterMetrics.registered_in(registry)), registry


def dead(out: StepOutput) -> DeadLettered:
    [send] = out.sends
    assert send.topic == TOPICS.deadletter and send.key is None
    return DeadLettered.model_validate_json(send.value)


def validated(text: str = "我们想办理食品经营许可证", **fields: object) -> bytes:
    steps, _ = make_steps()
    [send] = steps.validate(submission(text, **fields).model_dump_json().encode(), SUBMITTED).sends
    return send.value


def test_a_valid_submission_is_validated_and_keyed_by_its_channel_message() -> None:
    steps, registry = make_steps()
    sub = submission()
    [send] = steps.validate(sub.model_dump_json().encode(), SUBMITTED).sends
    assert send.topic == TOPICS.validated and send.key == b"wechat_group:m-1"
    assert TicketSubmitted.model_validate_json(send.value).text == sub.text
    assert registry.get_sample_value("ztc_events_in_total", {"topic": TOPICS.submitted}) == 1.0


def test_a_validated_submission_is_routed_to_tickets_routed_and_the_lead_department() -> None:
    steps, registry = make_steps()
    out = steps.route(validated(), VALIDATED, {})
    routed = TicketRouted.model_validate_json(out.sends[0].value)
    assert routed.lead_department == "approval"  # 食品经营许可证: the licensing hall
    expected = [TOPICS.routed, *(TOPICS.department(code) for code in routed.departments)]
    assert [s.topic for s in out.sends] == expected and TOPICS.department("approval") in expected
    assert all(s.key == routed.ticket_id.encode() and s.value == out.sends[0].value for s in out.sends)
    assert out.remember == (routed.submission.dedupe_key, routed.ticket_id)
    assert registry.get_sample_value("ztc_events_out_total", {"topic": TOPICS.routed}) == 1.0


def test_co_departments_get_their_copy_too() -> None:
    steps, _ = make_steps()
    out = steps.route(validated("李村街道的餐饮店办理食品经营许可证"), VALIDATED, {})
    routed = TicketRouted.model_validate_json(out.sends[0].value)
    assert (routed.lead_department, routed.co_departments) == ("approval", ("street-licun",))
    assert [s.topic for s in out.sends] == [
        TOPICS.routed,
        TOPICS.department("approval"),
        TOPICS.department("street-licun"),
    ]


def test_a_malformed_submission_goes_to_the_dead_letter_topic_with_its_reason() -> None:
    steps, registry = make_steps()
    for raw, reason in [
        (b"{not json", "not JSON"),
        (b'{"type": "TicketRouted"}', "wrong event type 'TicketRouted'"),
        (b'{"channel": "fax", "text": "x"}', "schema: "),
        (b"", "empty message"),
    ]:
        letter = dead(steps.validate(raw, SUBMITTED))
        assert letter.reason.startswith(reason) and letter.stage == "validate"
        assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
            TOPICS.submitted,
            2,
            41,
        )
        assert letter.original_preview == raw.decode(errors="replace")[: len(letter.original_preview)]
    assert registry.get_sample_value("ztc_dead_letters_total", {"stage": "validate"}) == 4.0


def test_garbage_on_the_validated_topic_is_dead_lettered_not_raised() -> None:
    steps, _ = make_steps()
    letter = dead(steps.route(b'{"text": "half a submission"}', VALIDATED, {}))
    assert letter.stage == "route" and "validation error" in letter.reason


def test_a_repeated_channel_message_is_routed_once() -> None:
    steps, _ = make_steps()
    seen: dict[str, str] = {}
    first = steps.route(validated(), VALIDATED, seen)
    assert first.remember is not None
    seen[first.remember[0]] = first.remember[1]  # what the agent does once the sends are done
    again = steps.route(validated(), VALIDATED, seen)
    assert again == StepOutput()
    later = steps.route(validated(channel_message_id="m-2"), VALIDATED, seen)
    assert later.sends and later.sends[0].key != first.sends[0].key


def test_a_reroute_request_routes_again_without_the_departments_that_bounced_it() -> None:
    steps, _ = make_steps()
    sub = TicketSubmitted.model_validate_json(validated())
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
