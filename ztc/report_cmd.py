"""``ztc report weekly|monthly [--period P] [--out DIR] [--send]``: the supervision report (督办通报).

Reads the reports' read model (as the dashboard does), writes the workbook
(``ztc-report-monthly-2026-11.xlsx``) and the printable page (``.html``, the same page as
``/dashboard/report``) into ``--out``, prints the headline figures, and with ``--send``
posts a summary to the alert sinks.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from schemas.events import now_in_district
from schemas.settings import Settings
from ztc.errors import CliError


def report(args: argparse.Namespace) -> int:
    from consumers import views
    from consumers.dashboard import make_templates
    from consumers.hotspot_views import recent_hotspots
    from consumers.report import DetectedHotSpots, summary_text
    from consumers.report_pages import department_names, level_labels, render_report_html
    from consumers.report_periods import ReportKind, report_period
    from consumers.report_sinks import send_summary
    from consumers.report_xlsx import write_report_xlsx
    from ztc.bootstrap import policy_for, redis_client, ticket_store
    from ztc.sla_cmd import parse_moment

    settings: Settings = args.settings
    now = parse_moment(args.now) if args.now else now_in_district()
    try:
        period = report_period(ReportKind(args.kind), args.period, now)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"无法创建输出目录 cannot create {out}: {exc.strerror}") from None
    policy = policy_for(settings)
    client = redis_client(settings)
    spots = DetectedHotSpots(lambda: recent_hotspots(client, settings.redis_prefix)).hot_spots(period.period)
    shown = views.supervision_report(ticket_store(settings), period, now, policy, spots)
    names = department_names(policy)
    stem = out / f"ztc-report-{period.kind.value}-{period.name}"
    xlsx = write_report_xlsx(shown, names, level_labels(policy), stem.with_suffix(".xlsx"))
    html = stem.with_suffix(".html")
    html.write_text(render_report_html(make_templates(policy).env, shown, policy), encoding="utf-8")
    text = summary_text(shown, names)
    print(text)
    print(f"已写入 wrote {xlsx}")
    print(f"已写入 wrote {html}")
    if args.send:
        for sent in send_summary(settings, lambda: redis_client(settings), shown.title, text, now):
            state = "已发送 sent" if sent.ok else f"未发送 not sent: {sent.detail}"
            print(f"推送 {sent.sink}: {state}")
    return 0


def add_report_parser(sub: Any) -> None:
    """Register ``ztc report weekly|monthly``."""
    help_text = "督办通报 weekly / monthly supervision report: .xlsx + printable page [--send]"
    parser: argparse.ArgumentParser = sub.add_parser("report", help=help_text, description=help_text)
    parser.add_argument("kind", choices=["weekly", "monthly"], help="周报 weekly / 月报 monthly")
    parser.add_argument(
        "--period",
        help="统计周期 current (default) | previous | 2026-11 | 2026-W48 | a date inside it",
    )
    parser.add_argument("--out", type=Path, default=Path("."), help="输出目录 output directory (default .)")
    parser.add_argument("--now", help="按指定时刻生成 as of this ISO time (drills, tests)")
    parser.add_argument(
        "--send", action="store_true", help="推送摘要到告警渠道 send a summary to the alert sinks"
    )
    parser.set_defaults(func=report)
