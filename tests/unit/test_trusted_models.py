"""construct_trusted gives what model_construct gives, and refuses what it cannot do right."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from schemas.events import Priority, TicketRouted, now_in_district
from schemas.trusted_models import construct_trusted
from tests.unit.factories import submission as factory_submission


def _routed_fields() -> dict[str, Any]:
    submission = factory_submission("施工许可证办理进度咨询")
    return {
        "event_id": "e-1",
        "ticket_id": submission.ticket_id,
        "occurred_at": now_in_district(),
        "submission": submission,
        "category": "construction",
        "confidence": 0.91,
        "lead_department": "housing",
        "co_departments": ("street-a",),
        "priority": Priority.normal,
        "manual_triage": False,
        "policy_version": "test",
    }


def test_the_same_model_as_model_construct_and_as_validation() -> None:
    fields = _routed_fields()
    trusted = construct_trusted(TicketRouted, **fields)
    assert trusted == TicketRouted.model_construct(**fields)
    assert trusted.model_fields_set == TicketRouted.model_construct(**fields).model_fields_set
    assert trusted.model_dump_json() == TicketRouted.model_validate(fields).model_dump_json()
    assert trusted.schema_version == 1 and trusted.rules_fired == () and trusted.reroute_request_id is None


def test_a_missing_required_field_is_named() -> None:
    fields = _routed_fields()
    del fields["category"]
    with pytest.raises(KeyError, match=r"TicketRouted\.category"):
        construct_trusted(TicketRouted, **fields)


def test_a_field_defaulted_by_a_factory_must_be_given() -> None:
    fields = _routed_fields()
    del fields["event_id"]  # its default is new_event_id(): construct_trusted does not call factories
    with pytest.raises(KeyError, match="event_id"):
        construct_trusted(TicketRouted, **fields)


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not fields: \\['colour'\\]"):
        construct_trusted(TicketRouted, **_routed_fields(), colour="red")


class _Aliased(BaseModel):
    name: str = Field(alias="Name")


class _Shared(BaseModel):
    tags: list[str] = []


class _Extra(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


@pytest.mark.parametrize("model", [_Aliased, _Shared, _Extra])
def test_models_it_cannot_build_right_are_refused(model: type[BaseModel]) -> None:
    with pytest.raises(ValueError):
        construct_trusted(model, name="x")
