"""Readable Chinese text for tickets, inboxes and dead letters (the CLI's views)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.events import DISTRICT_ZONE, DeadLettered, TicketRouted
from schemas.policy import RoutingPolicy
from schemas.ticket import TicketRecord
from streams.business_calendar import business_seconds_between
from streams.sla import calendar_for


def local(moment: datetime) -> str:
    return moment.astimezone(DISTRICT_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def dept_name(code: str, policy: RoutingPolicy | None) -> str:
    dept = policy.department(code) if policy else None
    return f"{dept.name}({code})" if dept else code


def ticket_json(record: TicketRecord) -> dict[str, Any]:
    out = record.model_dump(mode="json")
    out["status_label"] = record.status.label
    return out


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def sla_lines(record: TicketRecord, policy: RoutingPolicy, now: datetime) -> list[str]:
    """The ticket's time limits and each department's share of the working time it took."""
    calendar = calendar_for(policy.sla)
    lines = []
    if record.sla is not None:
        clock = record.sla
        breached = "、".join(stage.label for stage in clock.breached) or "无"
        paused = f"  暂停中 paused since {local(clock.paused_since)}" if clock.paused_since else ""
        lines.append(
            f"时限 SLA: {clock.tier}  签收期限 {local(clock.accept_due_at)}"
            f"  办结期限 {local(clock.resolve_due_at)}  超期 {breached}"
            f"  督办级别 {clock.escalation_level}  延期 {clock.extensions}{paused}"
        )
    if record.assignments:
        lines.append("各部门用时 working time per department:")
        for row in record.assignments:
            end = (
                row.done_at
                or row.released_at
                or (now if record.status.value not in ("resolved", "closed") else None)
            )
            end = end or record.resolved_at or record.updated_at
            spent = business_seconds_between(row.assigned_at, end, calendar)
            accepted = f"签收 {local(row.accepted_at)}" if row.accepted_at else "未签收"
            lines.append(
                f"  {dept_name(row.department, policy)} {row.role.label}  派单 {local(row.assigned_at)}  "
                f"{accepted}  工作时间 {_hours(spent)}"
            )
    return lines


def ticket_text(record: TicketRecord, policy: RoutingPolicy | None, now: datetime | None = None) -> str:
    s = record.submission
    co = "、".join(dept_name(c, policy) for c in record.co_departments) or "无"
    lines = [
        f"工单 {record.ticket_id}  状态: {record.status.label} ({record.status.value})",
        f"标题: {s.title}",
        f"企业: {s.enterprise_name or '-'}  信用代码: {s.credit_code or '-'}"
        + ("  [重点企业]" if record.key_enterprise else ""),
        f"项目: {record.key_project or s.project_name or '-'}  街道: {s.street or '-'}"
        f"  渠道: {s.channel.value}",
        f"类别: {record.category}  置信度: {record.confidence:.2f}  优先级: {record.priority.value}",
        f"主办: {dept_name(record.lead_department, policy)}  协办: {co}",
        f"诉求: {s.text}",
        *(sla_lines(record, policy, now) if policy is not None and now is not None else []),
        "时间线 / timeline:",
    ]
    for entry in record.history:
        who = dept_name(entry.department, policy) if entry.department else "-"
        lines.append(f"  {local(entry.at)}  [{entry.event_type}] {who}: {entry.summary}")
    return "\n".join(lines)


def routed_text(event: TicketRouted, policy: RoutingPolicy) -> str:
    co = "、".join(dept_name(c, policy) for c in event.co_departments) or "无"
    where = "人工分派 (manual triage)" if event.manual_triage else "自动派单 (auto-dispatch)"
    return (
        f"{event.ticket_id}  {event.submission.title}\n"
        f"  → 主办 {dept_name(event.lead_department, policy)}；协办 {co}\n"
        f"  类别 {event.category}，置信度 {event.confidence:.2f}，优先级 {event.priority.value}，{where}"
    )


def deadletter_text(record: DeadLettered) -> str:
    where = f"{record.source_topic}@{record.source_partition}/{record.source_offset}"
    return (
        f"{local(record.occurred_at)}  [{record.stage}] {where}\n"
        f"  原因 reason: {record.reason}\n"
        f"  原文 original: {record.original_preview[:120]!r}"
    )
