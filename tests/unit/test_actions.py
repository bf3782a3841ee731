"""The action registry: complete, consistent, and the one source of the CLI, the HTTP routes and the docs."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient

from consumers.department_api import department_router, request_model
from consumers.ticket_store import InMemoryTicketStore
from producers.department_client import DepartmentClient
from producers.publisher import InMemoryPublisher
from schemas.actions import (
    ACTION_PATH_PREFIX,
    ACTIONS,
    Acting,
    ActionSpec,
    FieldSpec,
    Kind,
    Who,
    reference_table,
)
from schemas.events import Priority, TicketRouted
from schemas.feedback import (
    FEEDBACK_EVENT_TYPES,
    FOLLOW_UP_EVENTS,
    DepartmentAction,
    Text,
    TicketAccepted,
    TicketDispatched,
)
from schemas.principals import Principal, Scope
from schemas.ticket_state import TRANSITIONS
from tests.unit.factories import NOW, submission
from ztc import cli
from ztc.cli import OneLineParser, build_parser
from ztc.feedback_cmd import add_feedback_parsers

README = Path(__file__).parents[2] / "README.md"
TOPIC = "test.feedback"
TICKET = submission().ticket_id
APPROVAL = {"x-department": "approval"}


class Pinged(DepartmentAction):
    """A made-up action: the registry entry below is all the CLI and the API need to offer it."""

    event_type: ClassVar[str] = "Pinged"
    label: ClassVar[str] = "催办提醒"
    type: Literal["Pinged"] = "Pinged"

    message: Text


PING = ActionSpec(
    "ping",
    Pinged,
    verb="ping",
    title="ping",
    help="催办提醒 remind the lead",
    who=(Who.involved,),
    fields=(FieldSpec("message", "提醒内容", "what to say", required=True),),
    path="ping",
    example={"actor": "王科长", "message": "请尽快办理"},
)


def feedback_actions() -> set[type[DepartmentAction]]:
    def below(cls: type[DepartmentAction]) -> Iterator[type[DepartmentAction]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    return {cls for cls in below(DepartmentAction) if cls.__module__ == "schemas.feedback"}


# ---------------------------------------------------------------- the registry


def test_every_department_action_has_exactly_one_entry_and_one_transition() -> None:
    events = [spec.event for spec in ACTIONS]
    assert sorted(events, key=str) == sorted(feedback_actions() - FOLLOW_UP_EVENTS, key=str)
    assert len(events) == len(set(events))
    assert set(FEEDBACK_EVENT_TYPES) == feedback_actions() == set(TRANSITIONS)


@pytest.mark.parametrize("attribute", ["name", "verb", "http_path"])
def test_names_verbs_and_paths_are_unique(attribute: str) -> None:
    values = [getattr(spec, attribute) for spec in ACTIONS if getattr(spec, attribute) is not None]
    assert len(values) == len(set(values))


def test_the_http_paths_are_the_ones_clients_use() -> None:
    paths = {spec.name: spec.path for spec in ACTIONS if spec.path is not None}
    assert paths == {
        "accept": "accept",
        "progress": "progress",
        "request_info": "request-info",
        "co_done": "co-done",
        "bounce": "bounce",
        "resolve": "resolve",
        "dispatch": "dispatch",
        "convene": "convene",
        "supply_info": "supply-info",
        "reopen": "reopen",
        "rate": "rate",
        "extend": "extend",
        "approve_extension": "approve-extension",
        "reject_extension": "reject-extension",
        "request_withdrawal": "withdraw",
        "approve_withdrawal": "approve-withdrawal",
        "refuse_withdrawal": "refuse-withdrawal",
        "merge": "merge",
        "close_invalid": "close",
    }


def test_who_decides_how_the_department_is_filled() -> None:
    acting = {spec.name: spec.acting for spec in ACTIONS}
    assert {name for name, how in acting.items() if how is Acting.office} == {
        "reopen",
        "dispatch",
        "convene",
        "approve_extension",
        "reject_extension",
        "approve_withdrawal",
        "refuse_withdrawal",
        "merge",
        "close_invalid",
    }
    assert {name for name, how in acting.items() if how is Acting.field} == {"rate"}
    rate = next(spec for spec in ACTIONS if spec.name == "rate")
    assert rate.department_field is not None and rate.department_field.name == "rated_by"


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"fields": (FieldSpec("nope", "无", "none"),)}, "Pinged has no field nope"),
        ({"fields": (FieldSpec("department", "部门", "who"),)}, "department is filled by every action"),
        ({"verb": "Ping"}, "lower-case words"),
        ({"who": ()}, "who may try"),
        ({"example": {}}, "documents an example"),
        ({"fields": (FieldSpec("message", "内容", "what", flag="--as"),)}, "every action has"),
        ({"who": (Who.enterprise,)}, "sets_department"),
    ],
)
def test_a_malformed_entry_is_refused_when_the_registry_loads(
    changes: dict[str, Any], complaint: str
) -> None:
    values: dict[str, Any] = {
        "verb": PING.verb,
        "title": PING.title,
        "help": PING.help,
        "who": PING.who,
        "fields": PING.fields,
        "path": PING.path,
        "example": PING.example,
    }
    with pytest.raises(ValueError, match=complaint):
        ActionSpec("ping", Pinged, **(values | changes))


def test_a_field_marked_with_choices_is_a_choice() -> None:
    with pytest.raises(ValueError, match="choices go with kind=choice"):
        FieldSpec("reason", "理由", "why", choices=Who)


# ---------------------------------------------------------------- the CLI


def parser_with(*actions: ActionSpec) -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ztc")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    add_feedback_parsers(sub, actions)
    return parser


def sample_value(field: FieldSpec) -> tuple[str, Any]:
    """What a person types for ``field``, and what the client should get."""
    if field.kind is Kind.choice:
        return field.choice_values[-1], field.choice_values[-1]
    if field.kind is Kind.departments:
        return "planning, construction", ("planning", "construction")
    samples = {Kind.department: "market", Kind.time_limit: "5 working days"}
    return samples.get(field.kind, "说明"), samples.get(field.kind, "说明")


def sample_argv(spec: ActionSpec) -> tuple[list[str], dict[str, Any]]:
    """A full command line for ``spec`` and the values it should give the client."""
    argv = [spec.verb, TICKET, "--actor", "王科长"]
    if spec.acting is Acting.department:
        argv += ["--as", "approval"]
    values: dict[str, Any] = {}
    for f in spec.fields:
        raw, value = sample_value(f)
        argv += [f.cli_flag, raw]
        values[f.name] = value
    return argv, values


@pytest.mark.parametrize("spec", ACTIONS, ids=lambda spec: spec.verb)
def test_every_entry_is_a_ztc_subcommand_with_its_flags(spec: ActionSpec) -> None:
    argv, values = sample_argv(spec)
    args = build_parser().parse_args(argv)
    assert {f.name: getattr(args, f.name) for f in spec.fields} == values
    assert getattr(args, "department", None) == ("approval" if spec.acting is Acting.department else None)
    assert args.command in cli.SERVERS_NEEDED


WITH_REQUIRED_FLAGS = [
    spec for spec in ACTIONS if any(f.required and f.cli_default is None for f in spec.fields)
]


@pytest.mark.parametrize("spec", WITH_REQUIRED_FLAGS, ids=lambda spec: spec.verb)
def test_a_required_flag_left_out_is_one_line(spec: ActionSpec, capsys: pytest.CaptureFixture[str]) -> None:
    required = [f for f in spec.fields if f.required and f.cli_default is None]
    argv, _ = sample_argv(spec)
    flag = required[0].cli_flag
    at = argv.index(flag)
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv[:at] + argv[at + 2 :])
    err = capsys.readouterr().err
    assert err.startswith("错误 / error:") and err.count("\n") == 1 and flag in err


def test_optional_flags_default_as_before() -> None:
    parser = build_parser()
    dispatch = parser.parse_args(["dispatch", TICKET, "--lead", "market"])
    assert (dispatch.co_departments, dispatch.note) == ((), None)
    convene = parser.parse_args(["convene", TICKET, "--departments", "a,b"])
    assert (convene.departments, convene.note) == (("a", "b"), "联席会议协同办理")
    rate = parser.parse_args(["rate", TICKET, "--rating", "satisfied"])
    assert rate.rated_by == "enterprise"


def test_a_new_entry_is_a_new_subcommand() -> None:
    with pytest.raises(SystemExit):
        parser_with(*ACTIONS).parse_args(["ping", TICKET, "--as", "approval", "--message", "快"])
    args = parser_with(*ACTIONS, PING).parse_args(["ping", TICKET, "--as", "approval", "--message", "快"])
    assert (args.command, args.department, args.message) == ("ping", "approval", "快")
    assert callable(args.func)


def routed(store: InMemoryTicketStore, *, triage: bool = False) -> None:
    store.record(
        TicketRouted(
            ticket_id=TICKET,
            occurred_at=NOW,
            submission=submission(),
            category="licence",
            confidence=0.3 if triage else 0.9,
            lead_department="office" if triage else "approval",
            co_departments=() if triage else ("construction",),
            priority=Priority.normal,
            manual_triage=triage,
            policy_version="test",
        )
    )


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> tuple[InMemoryTicketStore, InMemoryPublisher]:
    """``ztc <action>`` on the in-memory store and publisher: no broker, no Redis."""
    store, publisher = InMemoryTicketStore(), InMemoryPublisher()
    routed(store)
    monkeypatch.setattr(cli, "_require_servers", lambda args: None)
    monkeypatch.setattr("ztc.feedback_cmd.ticket_store", lambda settings: store)
    monkeypatch.setattr("ztc.feedback_cmd.intake_publisher", lambda settings: publisher)
    return store, publisher


def test_a_cli_action_is_published_and_a_refused_one_is_one_line(
    offline: tuple[InMemoryTicketStore, InMemoryPublisher], capsys: pytest.CaptureFixture[str]
) -> None:
    store, publisher = offline
    assert cli.main(["accept", TICKET, "--as", "approval", "--actor", "王科长", "--no-wait"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"已发布 published: 签收 {TICKET} (TicketAccepted, event ")
    [sent] = publisher.published
    assert isinstance(sent.event, TicketAccepted)
    assert (sent.event.department, sent.event.actor) == ("approval", "王科长")
    store.record(sent.event)

    assert cli.main(["resolve", TICKET, "--as", "approval", "--resolution", "已发证", "--no-wait"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("拒绝 / refused:") and "construction" in err and err.count("\n") == 1
    assert cli.main(["dispatch", TICKET, "--lead", "nowhere", "--no-wait"]) == 2
    assert capsys.readouterr().err == "错误 / error: 未知部门 unknown department 'nowhere'\n"
    assert len(publisher.published) == 1


@pytest.mark.parametrize("spec", ACTIONS, ids=lambda spec: spec.verb)
def test_every_generated_command_line_makes_a_valid_event(
    spec: ActionSpec,
    offline: tuple[InMemoryTicketStore, InMemoryPublisher],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Published (0) or refused by the ticket's state (1); never a field the event rejects (2)."""
    _, publisher = offline
    argv, values = sample_argv(spec)
    code = cli.main([*argv, "--no-wait"])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    if code == 1:
        assert err.startswith("拒绝 / refused:") and publisher.published == []
        return
    [sent] = publisher.published
    assert isinstance(sent.event, spec.event) and out.startswith(f"已发布 published: {spec.label} ")
    assert {name: getattr(sent.event, name) for name in values} == values


# ---------------------------------------------------------------- the HTTP API


def principal(x_department: str = Header()) -> Principal:
    return Principal(name=x_department, scope=Scope.department, department=x_department)


def api(*actions: ActionSpec, triage: bool = False) -> tuple[TestClient, InMemoryPublisher]:
    store, publisher = InMemoryTicketStore(), InMemoryPublisher()
    routed(store, triage=triage)
    codes = ("office", "approval", "construction", "planning", "market")
    client = DepartmentClient(store, publisher, TOPIC, codes, lambda: NOW)
    app = FastAPI()
    app.include_router(
        department_router(lambda: store, lambda: client, principal, actions=actions or ACTIONS)
    )
    return TestClient(app), publisher


def test_every_http_entry_is_a_route_with_its_documented_body() -> None:
    http, _ = api()
    paths = http.get("/openapi.json").json()["paths"]
    action_paths = {path for path in paths if path.startswith(ACTION_PATH_PREFIX)}
    assert action_paths == {spec.http_path for spec in ACTIONS if spec.http_path is not None}
    for spec in ACTIONS:
        if spec.http_path is None:
            continue
        operation = paths[spec.http_path]["post"]
        assert operation["summary"] == spec.summary and operation["operationId"].startswith(spec.name)
        assert {"200", "404", "409", "422"} <= set(operation["responses"])
        model = request_model(spec)
        assert model.model_validate(spec.example)  # the documented example is a valid body
        files = {"attachments"} if "attachments" in spec.event.model_fields else set()
        assert set(model.model_fields) - {"actor"} == {f.body_name for f in spec.body_fields} | files


def test_a_department_acts_through_its_route() -> None:
    http, publisher = api()
    answer = http.post(
        f"/api/tickets/{TICKET}/accept?wait_s=0",
        json={"actor": "王科长", "note": "已签收"},
        headers=APPROVAL,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"event_id": "-"} == {
        "event_id": "-",
        "event_type": "TicketAccepted",
        "label": "签收",
        "ticket_id": TICKET,
        "recorded": False,
        "status": None,
        "status_label": None,
    }
    [event] = publisher.events(TOPIC)
    assert isinstance(event, TicketAccepted) and (event.department, event.note) == ("approval", "已签收")


def test_the_routes_answer_403_404_409_and_422_as_before() -> None:
    http, publisher = api()
    body = {"actor": "王", "resolution": "已办结"}
    refused = http.post(f"/api/tickets/{TICKET}/resolve", json=body, headers=APPROVAL)
    assert refused.status_code == 409 and "lead must accept it first" in refused.json()["detail"]
    stranger = http.post(f"/api/tickets/{TICKET}/resolve", json=body, headers={"x-department": "market"})
    assert stranger.status_code == 404
    dispatch = {"actor": "王", "lead": "market"}
    not_office = http.post(f"/api/tickets/{TICKET}/dispatch", json=dispatch, headers=APPROVAL)
    assert not_office.status_code == 403
    missing = http.post(f"/api/tickets/{TICKET}/progress", json={"actor": "王"}, headers=APPROVAL)
    extra = http.post(f"/api/tickets/{TICKET}/accept", json={"actor": "王", "x": 1}, headers=APPROVAL)
    blank = http.post(
        f"/api/tickets/{TICKET}/bounce",
        json={"actor": "王", "reason": "duplicate", "note": "  "},
        headers=APPROVAL,
    )
    assert (missing.status_code, extra.status_code, blank.status_code) == (422, 422, 422)
    assert blank.json()["detail"][0]["loc"] == ["body", "note"]
    assert publisher.published == []


def test_the_office_dispatches_with_lists_and_its_own_department() -> None:
    http, publisher = api(triage=True)
    answer = http.post(
        f"/api/tickets/{TICKET}/dispatch?wait_s=0",
        json={"actor": "派单台", "lead": "approval", "co": ["planning"]},
        headers={"x-department": "office"},
    )
    assert answer.status_code == 200, answer.text
    [event] = publisher.events(TOPIC)
    assert isinstance(event, TicketDispatched) and event.department == "office"
    assert (event.lead_department, event.co_departments) == ("approval", ("planning",))


def test_a_new_entry_is_a_new_route_and_its_transition_stays_the_authority() -> None:
    without, _ = api()
    assert f"{ACTION_PATH_PREFIX}ping" not in without.get("/openapi.json").json()["paths"]
    http, publisher = api(*ACTIONS, PING)
    document = http.get("/openapi.json").json()
    assert document["paths"][f"{ACTION_PATH_PREFIX}ping"]["post"]["summary"] == "催办提醒 / ping"
    assert document["components"]["schemas"]["PingIn"]["examples"] == [PING.example]
    invalid = http.post(f"/api/tickets/{TICKET}/ping", json={"actor": "王"}, headers=APPROVAL)
    assert invalid.status_code == 422
    refused = http.post(f"/api/tickets/{TICKET}/ping", json=PING.example, headers=APPROVAL)
    assert refused.status_code == 409 and "Pinged does not apply to tickets" in refused.json()["detail"]
    assert publisher.published == []


# ---------------------------------------------------------------- the docs


def test_the_readme_lists_every_action_as_the_registry_says() -> None:
    table = reference_table()
    assert table in README.read_text(encoding="utf-8"), "README's table of actions is stale; paste:\n" + table
