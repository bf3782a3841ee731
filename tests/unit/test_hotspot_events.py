"""Hot spots as events: from routed tickets to requests, signals, the report, its alert text."""

from __future__ import annotations

import csv
import json
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from consumers.alert_text import AlertDescriber, render_hotspot
from consumers.alerter import decode_entry
from consumers.alerts import alert_text
from schemas.events import TicketRouted
from schemas.feedback import DepartmentAction, SatisfactionRated, TicketBounced, TicketMerged
from schemas.hotspot_events import (
    ALERT_EVENT_ADAPTER,
    HotSpotDetected,
    detected,
    parse_signal,
    request_of,
    signal_after,
)
from schemas.hotspots import HotspotGroup, HotspotRequest, TicketSignals, heat, settle_street
from schemas.policy import RoutingPolicy, policy_problems
from schemas.sla import SlaBreached, SlaStage, SlaWarning
from streams.routing import route_ticket
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy, load_model

POLICY = load_checked_policy(DEFAULT_POLICY)
REQUESTS = Path(__file__).parent / "data" / "hotspot_requests.csv"


def routed(
    n: int, text: str, enterprise: str, street: str | None = "楼山街道", minutes: int = 0
) -> TicketRouted:
    at = NOW + timedelta(minutes=minutes)
    fields = {
        "enterprise_name": enterprise,
        "street": street,
        "channel_message_id": f"m{n}",
        "submitted_at": at,
    }
    return route_ticket(submission(text, title=text[:20], ticket_id=f"T{n}", **fields), POLICY, at)


def test_a_routed_ticket_is_grouped_under_its_street_office_else_the_street_it_named() -> None:
    request = request_of(routed(1, "振华路被施工围挡封住，货车进不来", "青岛恒瑞精密机械有限公司"), POLICY)
    assert request.street == "street-loushan" and request.enterprise == "青岛恒瑞精密机械有限公司"
    assert "street-loushan" in request.departments
    nowhere = request_of(routed(2, "振华路被施工围挡封住，货车进不来", "甲公司", street=None), POLICY)
    assert nowhere.street == "未指明街道"
    anonymous = request_of(routed(3, "振华路被施工围挡封住，货车进不来", "", street=None), POLICY)
    assert anonymous.enterprise.endswith(anonymous.ticket_id)  # each unnamed enterprise counts apart


def _feedback(kind: type[DepartmentAction], **fields: object) -> DepartmentAction:
    base = {"ticket_id": "T1", "occurred_at": NOW, "actor": "王科长", "department": "transport"}
    return kind.model_validate({**base, **fields})


def test_signals_fold_bounces_ratings_breaches_and_merges_once_each() -> None:
    bounce = _feedback(TicketBounced, event_id="b1", reason="not_our_remit", note="不属于本部门职责")
    assert isinstance(bounce, TicketBounced)
    once = signal_after(None, bounce)
    assert signal_after(once, bounce) == once == TicketSignals(bounces=frozenset({"b1"}))
    rated = _feedback(SatisfactionRated, department="enterprise", rated_by="enterprise", rating="unsatisfied")
    assert isinstance(rated, SatisfactionRated)
    assert signal_after(once, rated).unsatisfied is True
    breach = SlaBreached(
        ticket_id="T1",
        occurred_at=NOW,
        stage=SlaStage.accept,
        department="transport",
        due_at=NOW,
        key="T1:accept:x",
    )
    assert signal_after(None, breach).overdue is True
    merged = _feedback(TicketMerged, department="office", into="T0")
    assert isinstance(merged, TicketMerged)
    assert signal_after(None, merged).merged_into == "T0"


def test_signals_are_read_only_for_the_kinds_heat_uses_and_garbage_is_an_error() -> None:
    warning = SlaWarning(
        ticket_id="T1",
        occurred_at=NOW,
        stage=SlaStage.accept,
        department="x",
        due_at=NOW,
        key="T1:a",
        share=0.8,
    )
    assert parse_signal(warning.model_dump_json().encode(), sla=True) is None
    accepted = json.dumps({"type": "TicketAccepted", "anything": 1}).encode()
    assert parse_signal(accepted, sla=False) is None  # the recorder judges it; heat does not use it
    with pytest.raises(ValueError):
        parse_signal(b"{not json", sla=False)
    with pytest.raises(ValueError):
        parse_signal(json.dumps({"type": "SlaBreached", "ticket_id": "T1"}).encode(), sla=True)
    with pytest.raises(ValueError):
        parse_signal(json.dumps({"type": "SlaSomething"}).encode(), sla=True)


def _road_group(policy: RoutingPolicy = POLICY) -> tuple[HotspotGroup, list[HotspotRequest]]:
    """The CSV's 40 requests routed by the real policy and grouped: the road's group, all requests."""
    with REQUESTS.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    model = load_model(DEFAULT_POLICY, policy)
    requests = []
    for i, row in enumerate(rows):
        at = NOW + timedelta(minutes=i)
        fields = {
            "enterprise_name": row["enterprise"],
            "street": "楼山街道",
            "channel_message_id": f"{row['group']}-{i}",
            "ticket_id": f"T{i:02d}",
        }
        sub = submission(row["text"], title=row["title"], submitted_at=at, **fields)
        requests.append(request_of(route_ticket(sub, policy, at, model=model), policy))
    outcome = settle_street([], requests, {}, policy.hotspots, NOW + timedelta(hours=1), ("楼山街道", "楼山"))
    (hot,) = outcome.detected
    return hot, requests


def test_the_forty_requests_make_one_hot_spot_of_the_twelve_about_the_road() -> None:
    hot, requests = _road_group()
    road = {r.ticket_id for r, row in zip(requests, _rows(), strict=True) if row["group"] == "road"}
    assert set(hot.ticket_ids) == road and len(road) == 12
    assert heat(hot, POLICY.hotspots, NOW + timedelta(hours=1)).enterprise_count == 9


def _rows() -> list[dict[str, str]]:
    with REQUESTS.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_report_suggests_a_joint_meeting_and_the_merges_and_keeps_its_id() -> None:
    hot, _ = _road_group()
    at = NOW + timedelta(hours=1)
    report = detected(hot, POLICY, at)
    assert report.suggestion == "joint_meeting" and "联合会商" in report.suggestion_text
    assert len(report.merge_suggestions) == 3 and report.enterprise_count == 9
    assert report.event_id == detected(hot, POLICY, at + timedelta(hours=3)).event_id  # once, by its id
    one_department = hot.model_copy(
        update={"requests": tuple(r.model_copy(update={"departments": ("transport",)}) for r in hot.requests)}
    )
    assert detected(one_department, POLICY, at).suggestion == "merge"


def test_the_alert_renders_the_policy_template_and_the_alerter_reads_it_back() -> None:
    hot, _ = _road_group()
    report = detected(hot, POLICY, NOW + timedelta(hours=1))
    rendered = render_hotspot(report, POLICY, "https://ztc.example.gov.cn/")
    text = rendered.text("text")
    assert text.startswith("【热点预警】楼山街道办事处「") and "9 家企业、12 件诉求" in text
    assert "联合会商" in text and text.endswith("https://ztc.example.gov.cn/dashboard/hotspots")
    assert AlertDescriber(lambda _: None, POLICY, "https://x")(report).kind == "热点预警"
    assert "HS-" in alert_text(report)
    entry = {b"event": report.model_dump_json().encode()}
    assert decode_entry(entry) == report
    assert isinstance(ALERT_EVENT_ADAPTER.validate_json(report.model_dump_json()), HotSpotDetected)


def test_policy_check_refuses_an_unknown_template_field() -> None:
    raw = tomllib.loads(DEFAULT_POLICY.read_text(encoding="utf-8"))
    raw["hotspots"]["alert_template"] = "【热点】{street} 热度 {heta}"
    problems = [p for p in policy_problems(raw) if p.path == "hotspots.alert_template"]
    assert problems and "{heta}" in problems[0].message
