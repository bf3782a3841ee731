"""Readable Chinese text for tickets, inboxes and dead letters (the CLI's views).

Phone and ID-card numbers are masked unless the caller passes ``unmask=True``:
``ztc ticket show --unmask``, or a policy whose ``[privacy]`` lets the
``operator`` role see them (:func:`operator_unmasks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from consumers.sla_engine import SlaBook, sla_status, working_time
from schemas.events import DISTRICT_ZONE, DeadLettered, TicketRouted
from schemas.labels import event_label, readable_summary, tier_label
from schemas.policy import PrivacyRole, RoutingPolicy
from schemas.privacy import mask_personal, mask_record, mask_submission, shows_personal_data
from schemas.ticket import InboxBucket, TicketRecord


def local(moment: datetime) -> str:
    return moment.astimezone(DISTRICT_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def dept_name(code: str, policy: RoutingPolicy | None) -> str:
    dept = policy.department(code) if policy else None
    if dept is None and code == "enterprise":  # schemas.feedback.ENTERPRISE: the enterprise itself
        return "企业(enterprise)"
    return f"{dept.name}({code})" if dept else code


def category_name(code: str, policy: RoutingPolicy | None) -> str:
    category = policy.category(code) if policy else None
    return f"{category.name}({code})" if category else code


def summary_text(summary: str, policy: RoutingPolicy | None) -> str:
    """A history line with department, category, priority and time-limit codes in Chinese."""
    if policy is None:
        return summary
    departments = {d.code: d.name for d in policy.departments}
    return readable_summary(summary, departments, {c.code: c.name for c in policy.categories})


def operator_unmasks(policy: RoutingPolicy | None, unmask: bool = False) -> bool:
    """Whether a CLI operator sees personal data: asked for with ``--unmask``, or allowed by the policy."""
    return unmask or (policy is not None and shows_personal_data(policy.privacy, (PrivacyRole.operator,)))


def _shown(record: TicketRecord, unmask: bool) -> TicketRecord:
    return record if unmask else mask_record(record)


def ticket_json(record: TicketRecord, *, unmask: bool = False) -> dict[str, Any]:
    out = _shown(record, unmask).model_dump(mode="json")
    out["status_label"] = record.status_label
    return out


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def late_text(seconds: int) -> str:
    """How late, for people: 2天3小时5分, 3小时5分."""
    hours, rest = divmod(seconds, 3600)
    days, hours = divmod(hours, 24)
    return f"{days}天{hours}小时{rest // 60}分" if days else f"{hours}小时{rest // 60}分"


def sla_lines(record: TicketRecord, policy: RoutingPolicy, now: datetime) -> list[str]:
    """The ticket's time limits, where each open stage stands (the one SLA rule), and working time."""
    book = SlaBook(policy)
    stages, working = sla_status(record, book, now), working_time(record, book, now)
    lines = []
    if record.sla is not None:
        clock = record.sla
        breached = "、".join(stage.label for stage in clock.breached) or "无"
        paused = f"  暂停中 paused since {local(clock.paused_since)}" if clock.paused_since else ""
        lines.append(
            f"时限 SLA: {tier_label(policy.sla, clock.tier)}  签收期限 {local(clock.accept_due_at)}"
            f"  办结期限 {local(clock.resolve_due_at)}  超期 {breached}"
            f"  督办级别 {clock.escalation_level}  延期 {clock.extensions}{paused}"
        )
    for stage in stages:
        late = f" {late_text(stage.late_seconds)}" if stage.overdue else ""
        lines.append(
            f"  {stage.stage.label} {stage.state.label} {stage.state.value}{late}  时限 {local(stage.due_at)}"
        )
    if working:
        lines.append("各部门用时 working time per department:")
        for row, seconds in working:
            accepted = f"签收 {local(row.accepted_at)}" if row.accepted_at else "未签收"
            lines.append(
                f"  {dept_name(row.department, policy)} {row.role.label}  派单 {local(row.assigned_at)}  "
                f"{accepted}  工作时间 {_hours(seconds)}"
            )
    return lines


def ticket_text(
    record: TicketRecord, policy: RoutingPolicy | None, now: datetime | None = None, *, unmask: bool = False
) -> str:
    record = _shown(record, unmask)
    s = record.submission
    co = "、".join(dept_name(c, policy) for c in record.co_departments) or "无"
    lines = [
        f"工单 {record.ticket_id}  状态: {record.status_label} ({record.status.value})",
        f"标题: {s.title}",
        f"企业: {s.enterprise_name or '-'}  信用代码: {s.credit_code or '-'}"
        + ("  [重点企业]" if record.key_enterprise else ""),
        f"项目: {record.key_project or s.project_name or '-'}  街道: {s.street or '-'}"
        f"  渠道: {s.channel.label}",
        f"类别: {category_name(record.category, policy)}  置信度: {record.confidence:.2f}"
        f"  优先级: {record.priority.label}",
        f"主办: {dept_name(record.lead_department, policy)}  协办: {co}",
        f"联系人: {s.contact or '-'}",
        f"诉求: {s.text}",
        *(sla_lines(record, policy, now) if policy is not None and now is not None else []),
        "时间线 / timeline:",
    ]
    for entry in record.history:
        who = dept_name(entry.department, policy) if entry.department else "-"
        kind = event_label(entry.event_type)
        lines.append(f"  {local(entry.at)}  [{kind}] {who}: {summary_text(entry.summary, policy)}")
    return "\n".join(lines)


def routed_text(event: TicketRouted, policy: RoutingPolicy, *, unmask: bool = False) -> str:
    co = "、".join(dept_name(c, policy) for c in event.co_departments) or "无"
    where = "人工分派 (manual triage)" if event.manual_triage else "自动派单 (auto-dispatch)"
    title = event.submission.title if unmask else mask_submission(event.submission).title
    return (
        f"{event.ticket_id}  {title}\n"
        f"  → 主办 {dept_name(event.lead_department, policy)}；协办 {co}\n"
        f"  类别 {category_name(event.category, policy)}，置信度 {event.confidence:.2f}，"
        f"优先级 {event.priority.label}，{where}"
    )


def inbox_text(
    department: str,
    buckets: Mapping[InboxBucket, Sequence[TicketRecord]],
    policy: RoutingPolicy | None,
    *,
    unmask: bool = False,
) -> str:
    """A department's inbox, bucket by bucket, oldest first; titles masked unless ``unmask``."""
    lines = [f"{dept_name(department, policy)} 待办 inbox"]
    for bucket, records in buckets.items():
        lines.append(f"[{bucket.label} {bucket.value}] {len(records)}")
        for r in records:
            role = "主办" if r.lead_department == department else "协办"
            title = r.submission.title if unmask else mask_personal(r.submission.title)
            lines.append(f"  {r.ticket_id}  {local(r.routed_at)}  {role}  {r.priority.label:<3} {title}")
    return "\n".join(lines)


def deadletter_text(record: DeadLettered) -> str:
    """One dead letter for people; reason and preview masked (older letters were kept unmasked)."""
    where = f"{record.source_topic}@{record.source_partition}/{record.source_offset}"
    size = f"{record.original_length} bytes" + ("，已截断 truncated" if record.original_truncated else "")
    return (
        f"{local(record.occurred_at)}  [{record.stage}] {where}  ({size})\n"
        f"  原因 reason: {mask_personal(record.reason)}\n"
        f"  原文 original: {mask_personal(record.original_preview)[:120]!r}"
    )
