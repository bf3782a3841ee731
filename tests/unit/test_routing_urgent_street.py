"""A named street always co-operates, and an urgent ticket never waits in triage unnoticed (issue 14)."""

from __future__ import annotations

from datetime import datetime

import pytest

from schemas.events import DISTRICT_ZONE, Priority, TicketRouted
from schemas.settings import Settings
from streams.routing import route_ticket
from tests.unit.factories import submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy, model_for

POLICY = load_checked_policy(DEFAULT_POLICY)
MODEL = model_for(Settings(), POLICY)
NOW = datetime(2026, 11, 27, 21, 0, tzinfo=DISTRICT_ZONE)
XINGCHENGLU = "street-xingchenglu"


def route(text: str, **fields: object) -> TicketRouted:
    return route_ticket(submission(text, **fields), POLICY, NOW, model=MODEL)


def test_an_urgent_unsure_ticket_goes_to_triage_flagged_with_the_named_street() -> None:
    routed = route("工地围挡倒塌，情况紧急，兴城路街道")
    assert routed.manual_triage and routed.lead_department == POLICY.triage_department
    assert routed.priority is Priority.urgent
    assert routed.sla_tier == "urgent"
    assert routed.co_departments == (XINGCHENGLU,)


def test_a_vague_ticket_naming_a_street_in_its_street_field_brings_the_street_into_triage() -> None:
    routed = route("有问题想反映", street="兴城路街道")
    assert routed.manual_triage
    assert routed.co_departments == (XINGCHENGLU,)
    assert routed.priority is Priority.normal


def test_a_vague_ticket_naming_no_street_goes_to_triage_alone() -> None:
    routed = route("有问题想反映")
    assert routed.manual_triage and routed.co_departments == ()


@pytest.mark.parametrize(
    "text",
    ["兴城路街道的企业想办理食品经营许可证", "兴城路街道这边厂房消防验收没通过，需要怎么整改"],
)
def test_a_confident_ticket_naming_a_street_has_it_as_co_department(text: str) -> None:
    routed = route(text)
    assert not routed.manual_triage
    assert XINGCHENGLU in routed.departments


def test_an_excluded_street_is_not_brought_back_into_triage() -> None:
    routed = route_ticket(
        submission("有问题想反映", street="兴城路街道"), POLICY, NOW, frozenset({XINGCHENGLU}), model=MODEL
    )
    assert routed.manual_triage and routed.co_departments == ()


def test_a_land_planning_joint_meeting_brings_in_planning() -> None:
    routed = route("厂区土地规划调整的事，希望街道召开联席会议", street="兴城路街道")
    assert routed.lead_department == XINGCHENGLU
    assert "planning" in routed.co_departments
