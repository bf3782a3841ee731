"""SLA and reports on the command line: ``ztc overdue``, ``ztc sla due``, ``ztc monitor``, ``ztc alerter``,
``ztc reindex``."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from consumers import views
from consumers.drill import DrillItem, apply_refusal, rehearse
from consumers.sla_engine import StageStatus
from schemas.business_calendar import BusinessCalendar, TargetUnit, due_at, parse_target, schedule_ends
from schemas.events import DISTRICT_ZONE, now_in_district
from schemas.labels import target_label
from schemas.settings import Settings
from schemas.sla_rules import calendar_for
from ztc import render
from ztc.bootstrap import policy_for, ticket_store
from ztc.commands import CliError, print_json

BUSINESS_UNITS = frozenset({TargetUnit.WORKING_DAYS, TargetUnit.BUSINESS_HOURS})


def estimated_years(calendar: BusinessCalendar, start: datetime, due: datetime) -> list[int]:
    """The years between ``start`` and ``due`` past the published schedule (statutory holidays only)."""
    last = schedule_ends(calendar).year
    return [y for y in range(start.year, due.year + 1) if y > last and not calendar.declares_year(y)]


def parse_moment(text: str) -> datetime:
    """An ISO time; without a zone it is read in Asia/Shanghai."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"时间格式无效 not an ISO time: {text!r}（例如 e.g. 2026-09-30T16:00+08:00）"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=DISTRICT_ZONE)


def overdue(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    policy = policy_for(settings)
    if args.dept and policy.department(args.dept) is None:
        raise CliError(f"未知部门 unknown department {args.dept!r}")
    now = parse_moment(args.now) if args.now else now_in_district()
    items = views.overdue_items(ticket_store(settings), now, args.dept or None)
    if args.json:
        print_json([_item_json(s) for s in items])
        return 0
    print(f"超期与临期 overdue and at-risk at {render.local(now)}: {len(items)}")
    for s in items:
        state = f"超期 {render.late_text(s.late_seconds)}" if s.overdue else "临期 at risk"
        level = f"  督办级别 {s.escalation_level}" if s.escalation_level else ""
        print(f"  {s.ticket_id}  {s.stage.label}  {render.dept_name(s.department, policy)}  "
              f"时限 {render.local(s.due_at)}  {state}{level}")  # fmt: skip
    return 0


def _item_json(s: StageStatus) -> dict[str, Any]:
    return {
        "ticket_id": s.ticket_id,
        "stage": s.stage.value,
        "department": s.department,
        "due_at": s.due_at.isoformat(),
        "overdue": s.overdue,
        "late_seconds": s.late_seconds,
        "escalation_level": s.escalation_level,
    }


def sla_due(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    calendar = calendar_for(policy_for(settings).sla)
    try:
        target = parse_target(args.target)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    start = parse_moment(args.start)
    due = due_at(start, target, calendar)
    estimated = estimated_years(calendar, start, due) if target.unit in BUSINESS_UNITS else []
    if estimated:
        years = "、".join(str(y) for y in estimated)
        print(
            f"注意 note: {years} 年没有公布的节假日安排，按法定假日推算，调休未计 / "
            f"no published schedule for {years}: statutory holidays only, make-up working days unknown",
            file=sys.stderr,
        )
    if args.json:
        print_json({"start": start.isoformat(), "target": str(target), "due_at": due.isoformat()})
    else:
        given = f"{target_label(args.target)} ({target})"
        print(f"{render.local(start)} + {given} → {render.local(due)} ({due.isoformat()})")
    return 0


def monitor(args: argparse.Namespace) -> int:
    """``--once``: a drill that prints what would fire, changing nothing; ``--once --apply``: a real pass."""
    from ztc.services import run_monitor

    now = parse_moment(args.now) if args.now else None
    if (now is not None or args.apply) and not args.once:
        raise CliError(
            "--now 与 --apply 只能和 --once 一起用 / --now and --apply only make sense with --once"
        )
    if not args.once:
        run_monitor(args.settings)
        return 0
    if not args.apply:
        return drill(args.settings, now or now_in_district(), args.json)
    refusal = apply_refusal(now, now_in_district()) if now is not None else None
    if refusal is not None:
        raise CliError(refusal)
    emitted = run_monitor(args.settings, once=True, now=now)
    for event in emitted:
        print(f"{event.event_type}  {event.ticket_id}  {event.key}")
    print(f"已发出 emitted {len(emitted)}")
    return 0


def drill(settings: Settings, now: datetime, as_json: bool) -> int:
    """What the monitor would emit at ``now``; nothing is recorded, published or sent."""
    policy = policy_for(settings)
    store = ticket_store(settings, policy)
    items = rehearse(store.sla_schedule, store, policy, now)
    if as_json:
        print_json([_drill_json(item) for item in items])
        return 0
    print(
        f"演练 drill at {render.local(now)}: 将发出 would fire {len(items)}"
        "（未记录、未发送 nothing recorded or sent; --apply 才会执行）"
    )
    for item in items:
        print(f"  {item.line()}")
    return 0


def _drill_json(item: DrillItem) -> dict[str, Any]:
    return {
        "ticket_id": item.ticket_id,
        "event_type": item.event.event_type,
        "stage": item.event.stage.value,
        "level": item.level,
        "department": item.department,
        "department_name": item.department_name,
        "due_at": item.due_at.isoformat(),
        "late": item.late,
        "key": item.event.key,
    }


def reindex(args: argparse.Namespace) -> int:
    """Rebuild the reports' read model from the stored tickets (after an upgrade, or to repair it)."""
    settings: Settings = args.settings
    store = ticket_store(settings, policy_for(settings))
    count = store.rebuild_read_model()
    print(f"报表数据已重建 read model rebuilt from {count} tickets")
    return 0


def alerter(args: argparse.Namespace) -> int:
    from ztc.services import run_alerter_service

    return run_alerter_service(args.settings)


def add_sla_parsers(sub: Any) -> None:
    p = sub.add_parser("overdue", help="超期与临期 overdue and at-risk tickets", description="超期与临期工单")
    p.add_argument("--dept", help="只看一个部门 one department")
    p.add_argument("--now", help="as if it were this ISO time")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=overdue)
    sla = sub.add_parser("sla", help="时限计算 SLA calendar: due", description="按工作日历计算期限")
    sla.add_argument("action", choices=["due"])
    sla.add_argument("--start", required=True, help="ISO time, e.g. 2026-09-30T16:00+08:00")
    sla.add_argument("--target", required=True, help='e.g. "7 working days", "2 hours", "4 business hours"')
    sla.add_argument("--json", action="store_true")
    sla.set_defaults(func=sla_due)
    mon = sub.add_parser("monitor", help="超期监控 run the overdue monitor", description="超期监控")
    mon.add_argument("--once", action="store_true", help="one pass, then exit")
    mon.add_argument(
        "--now",
        help="with --once: as if it were this ISO time; a drill prints what would fire, changing nothing",
    )
    mon.add_argument(
        "--apply",
        action="store_true",
        help="with --once: really emit (recorded into the tickets, sent by the alerter); "
        "refused for a --now in the future",
    )
    mon.add_argument("--json", action="store_true", help="the drill's alerts as JSON")
    mon.set_defaults(func=monitor)
    again = sub.add_parser(
        "reindex",
        help="重建报表数据 rebuild the reports' read model from the tickets",
        description="从工单重建报表数据（计数与期限索引）。请在记录服务停止时运行 / rebuild the "
        "read model (counters and deadline indexes) from the tickets; run it while no recorder writes",
    )
    again.set_defaults(func=reindex)
    alert = sub.add_parser("alerter", help="告警推送 send SLA alerts to the sinks", description="告警推送")
    alert.set_defaults(func=alerter)
