"""What a robot message says: an SLA event and its ticket rendered by the policy's templates. Pure.

``render_alert(event, record, policy, link_base, now)`` fills the template of the
event's kind (``[alerts.templates]`` in the policy) with department names, the
ticket's title and enterprise, the deadline and how late it is in working time,
the ticket page's link and the @-mentions of the people the policy lists for the
departments concerned. The platform payloads (``text_message``,
``dingtalk_message``, ``wecom_markdown``) turn that into the JSON each robot takes.
Nothing here reads a clock, the network or Redis: ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import quote

from schemas.business_calendar import BusinessCalendar, business_seconds_between
from schemas.events import DISTRICT_ZONE
from schemas.hotspot_events import AlertEvent, HotSpotDetected
from schemas.policy import RoutingPolicy
from schemas.privacy import mask_personal
from schemas.sla import SlaBreached, SlaEscalated, SlaEvent, SlaWarning
from schemas.sla_rules import calendar_for
from schemas.ticket import TicketRecord

Platform = Literal["text", "dingtalk", "wecom"]
WEEKDAYS = "一二三四五六日"
NO_ENTERPRISE = "未填写企业"


@dataclass(frozen=True)
class Mentions:
    """Whom a message @-mentions, per platform."""

    mobiles: tuple[str, ...] = ()
    dingtalk_user_ids: tuple[str, ...] = ()
    wecom_user_ids: tuple[str, ...] = ()

    def written(self, platform: Platform) -> str:
        """The @-mentions as the message text carries them (DingTalk highlights only those in the text)."""
        if platform == "wecom":
            return " ".join(f"<@{u}>" for u in self.wecom_user_ids)
        if platform == "dingtalk":
            return " ".join(f"@{who}" for who in (*self.mobiles, *self.dingtalk_user_ids))
        return " ".join(f"@{m}" for m in self.mobiles)


@dataclass(frozen=True)
class RenderedAlert:
    """One alert as people read it: its kind, the filled template per platform, whom it mentions."""

    kind: str
    headline: str
    """the first line (DingTalk's markdown title, the log line)"""
    texts: dict[str, str]
    """platform → the message text with its @-mentions written in"""
    mentions: Mentions

    def text(self, platform: Platform = "text") -> str:
        return self.texts[platform]


def _name(policy: RoutingPolicy, code: str) -> str:
    department = policy.department(code)
    return department.name if department is not None else code


def due_text(due: datetime) -> str:
    """12月3日（周四）17:30 — the deadline as a clerk says it."""
    local = due.astimezone(DISTRICT_ZONE)
    return f"{local.month}月{local.day}日（周{WEEKDAYS[local.weekday()]}）{local:%H:%M}"


def duration_text(seconds: int, day_seconds: int) -> str:
    """Working time in words: 2个工作日3小时, 1小时45分钟, 不足1分钟 (a working day = ``day_seconds``)."""
    days, rest = divmod(max(0, seconds), day_seconds)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}个工作日"] if days else []
    parts += [f"{hours}小时"] if hours else []
    parts += [f"{minutes}分钟"] if minutes and not days else []
    return "".join(parts) or "不足1分钟"


def lateness(event: SlaEvent, calendar: BusinessCalendar, now: datetime) -> tuple[str, str]:
    """(how late, how much is left) at ``now``, in working time; the other one is 0."""
    day = calendar.working_day_seconds
    late = business_seconds_between(event.due_at, now, calendar)
    left = business_seconds_between(now, event.due_at, calendar)
    return duration_text(late, day), duration_text(left, day)


def ticket_link(link_base: str, ticket_id: str) -> str:
    return f"{link_base.rstrip('/')}/dashboard/tickets/{quote(ticket_id)}"


def _notified(event: SlaEvent, policy: RoutingPolicy) -> str:
    if isinstance(event, SlaEscalated) and event.notify == "office":
        return policy.triage_department
    return event.department


def mentions_for(event: SlaEvent, policy: RoutingPolicy) -> Mentions:
    """The people of the notified department, and of the late one when the office is told."""
    alerts = policy.alerts
    codes = [_notified(event, policy)]
    if codes[0] != event.department and alerts.mention_lead_on_escalation:
        codes.append(event.department)
    found = [c for c in (alerts.contacts_of(code) for code in codes) if c is not None]

    def every(pick: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for c in found for v in getattr(c, pick)))

    return Mentions(every("mobiles"), every("dingtalk_user_ids"), every("wecom_user_ids"))


def _ask(event: SlaEvent, policy: RoutingPolicy) -> str:
    """Who is asked to do what: the office to press the department, or the department itself."""
    notified = _notified(event, policy)
    if notified == event.department:
        return f"请{_name(policy, event.department)}尽快办理"
    return f"请{_name(policy, notified)}督促{_name(policy, event.department)}办理"


def _kind(event: SlaEvent) -> tuple[str, str]:
    """(template name, the kind's words)."""
    if isinstance(event, SlaWarning):
        return "warning", "临期预警"
    if isinstance(event, SlaBreached):
        return "breached", "超期"
    if isinstance(event, SlaEscalated):
        return "escalated", event.level_label
    return "breached", event.label


def template_values(
    event: SlaEvent, record: TicketRecord | None, policy: RoutingPolicy, link_base: str, now: datetime
) -> dict[str, str]:
    """Every template field's value for this alert (mentions left empty: they differ per platform)."""
    late, left = lateness(event, calendar_for(policy.sla), now)
    submission = record.submission if record is not None else None
    co = record.co_departments if record is not None else ()
    level = event.level if isinstance(event, SlaEscalated) else 0
    return {
        "kind": _kind(event)[1],
        "ticket_id": event.ticket_id,
        "title": mask_personal(submission.title) if submission else event.ticket_id,
        "enterprise": (submission.enterprise_name if submission else None) or NO_ENTERPRISE,
        "stage": event.stage.label,
        "department": _name(policy, event.department),
        "lead": _name(policy, record.lead_department)
        if record is not None
        else _name(policy, event.department),
        "co": "、".join(_name(policy, c) for c in co) or "无",
        "notify": _name(policy, _notified(event, policy)),
        "ask": _ask(event, policy),
        "due": due_text(event.due_at),
        "late": late,
        "remaining": left,
        "level": str(level),
        "level_label": event.level_label if isinstance(event, SlaEscalated) else "",
        "link": ticket_link(link_base, event.ticket_id),
        "mentions": "",
    }


def render_alert(
    event: SlaEvent, record: TicketRecord | None, policy: RoutingPolicy, link_base: str, now: datetime
) -> RenderedAlert:
    """The alert's message for every platform; ``record`` None: the ticket could not be read (ids only)."""
    name, kind = _kind(event)
    template: str = getattr(policy.alerts.templates, name)
    values = template_values(event, record, policy, link_base, now)
    mentions = mentions_for(event, policy)
    texts: dict[str, str] = {}
    platforms: tuple[Platform, ...] = ("text", "dingtalk", "wecom")
    for platform in platforms:
        filled = template.format(**{**values, "mentions": mentions.written(platform)})
        texts[platform] = "\n".join(line for line in filled.splitlines() if line.strip())
    headline = texts["text"].splitlines()[0] if texts["text"] else kind
    return RenderedAlert(kind=kind, headline=headline, texts=texts, mentions=mentions)


class AlertDescriber:
    """``describe(event)`` for the sinks: the ticket read now, lateness as of the alert's own moment."""

    def __init__(
        self, tickets: Callable[[str], TicketRecord | None], policy: RoutingPolicy, link_base: str
    ) -> None:
        self.tickets = tickets
        self.policy = policy
        self.link_base = link_base

    def __call__(self, event: AlertEvent) -> RenderedAlert:
        if isinstance(event, HotSpotDetected):
            return render_hotspot(event, self.policy, self.link_base)
        record = self.tickets(event.ticket_id)
        return render_alert(event, record, self.policy, self.link_base, event.occurred_at)


# ---------------------------------------------------------------- hot spots


def hotspot_link(link_base: str) -> str:
    return f"{link_base.rstrip('/')}/dashboard/hotspots"


def hotspot_line(event: HotSpotDetected) -> str:
    """The one line a sink without the policy says (ids and counts only)."""
    count = event.ticket_count or len(event.tickets)
    return (
        f"【热点预警】{event.street_name} {event.hotspot_id}：{event.enterprise_count} 家企业、"
        f"{count} 件相似诉求，热度 {event.heat:.1f}；建议{event.suggestion_text}。"
    )


def hotspot_values(event: HotSpotDetected, policy: RoutingPolicy, link_base: str) -> dict[str, str]:
    """Every field of the policy's ``[hotspots] alert_template`` for this report."""
    category = policy.category(event.category)
    merges = "、".join(f"{m.duplicate}→{m.into}" for m in event.merge_suggestions) or "无"
    return {
        "street": event.street_name,
        "category": category.name if category is not None else event.category,
        "sample": mask_personal(event.tickets[0].title or event.tickets[0].ticket_id),
        "enterprises": str(event.enterprise_count),
        "tickets": str(event.ticket_count or len(event.tickets)),
        "heat": f"{event.heat:.1f}",
        "departments": "、".join(_name(policy, d) for d in event.departments) or "无",
        "suggestion": event.suggestion_text + (f"；建议合并 {merges}" if event.merge_suggestions else ""),
        "merges": merges,
        "link": hotspot_link(link_base),
    }


def render_hotspot(event: HotSpotDetected, policy: RoutingPolicy, link_base: str) -> RenderedAlert:
    """A hot spot's message for every platform; the office's people are @-mentioned."""
    values = hotspot_values(event, policy, link_base)
    filled = policy.hotspots.alert_template.format(**values)
    contacts = policy.alerts.contacts_of(policy.triage_department)
    mentions = (
        Mentions(contacts.mobiles, contacts.dingtalk_user_ids, contacts.wecom_user_ids)
        if contacts is not None
        else Mentions()
    )
    texts: dict[str, str] = {}
    for platform in ("text", "dingtalk", "wecom"):
        lines = [line for line in filled.splitlines() if line.strip()]
        written = mentions.written(platform)
        texts[platform] = "\n".join([*lines, written] if written else lines)
    headline = texts["text"].splitlines()[0] if texts["text"] else "热点预警"
    return RenderedAlert(kind="热点预警", headline=headline, texts=texts, mentions=mentions)


# ---------------------------------------------------------------- the robots' JSON


def text_message(alert: RenderedAlert) -> dict[str, object]:
    """The plain text message both robots accept (and any other webhook)."""
    return {"msgtype": "text", "text": {"content": alert.text("text")}}


def dingtalk_message(alert: RenderedAlert) -> dict[str, object]:
    """DingTalk custom robot markdown, with ``at`` (atMobiles / atUserIds; they are @-ed in the text too)."""
    lines = alert.text("dingtalk").splitlines()
    body = "\n\n".join([f"#### {lines[0]}", *lines[1:]]) if lines else alert.kind
    return {
        "msgtype": "markdown",
        "markdown": {"title": alert.headline[:64], "text": body},
        "at": {
            "atMobiles": list(alert.mentions.mobiles),
            "atUserIds": list(alert.mentions.dingtalk_user_ids),
            "isAtAll": False,
        },
    }


def wecom_markdown(alert: RenderedAlert) -> dict[str, object]:
    """WeCom group robot markdown (``<@userid>`` mentions; WeCom markdown cannot @ a mobile number)."""
    lines = alert.text("wecom").splitlines()
    body = "\n".join([f"**{lines[0]}**", *lines[1:]]) if lines else alert.kind
    return {"msgtype": "markdown", "markdown": {"content": body}}


def robot_payload(alert: RenderedAlert, platform: Platform) -> dict[str, object]:
    if platform == "dingtalk":
        return dingtalk_message(alert)
    if platform == "wecom":
        return wecom_markdown(alert)
    return text_message(alert)
