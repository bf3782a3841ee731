"""``ztc route --replay``: recorded tickets (or a JSONL file) through a candidate policy and model.

Prints how many tickets would route differently and how each department's leads would move,
without publishing anything: try a policy edit or a new model before anyone changes the live ones.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ztc.errors import CliError

if TYPE_CHECKING:
    from schemas.events import TicketSubmitted
    from schemas.settings import Settings
    from streams.replay import ReplayReport


def add_replay_arguments(route: argparse.ArgumentParser) -> None:
    route.add_argument(
        "--replay",
        nargs="?",
        const="recorded",
        metavar="JSONL",
        help="重放已记录工单（或 JSONL）按候选规则和模型派单，不发布 / what-if over recorded tickets",
    )
    route.add_argument("--since", help="重放起始日期 replay tickets routed on or after YYYY-MM-DD")
    route.add_argument(
        "--policy", type=Path, help="候选派单规则 candidate policy TOML (default: the live one)"
    )
    route.add_argument(
        "--model", help="模型：文件、current（在用，默认）或 policy / model file, current (default) or policy"
    )
    route.add_argument("--show", type=int, default=20, help="列出的改变派单数 / changes listed")


def _since(text: str | None) -> datetime | None:
    from schemas.events import DISTRICT_ZONE

    if text is None:
        return None
    try:
        return datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(), DISTRICT_ZONE)
    except ValueError:
        raise CliError(f"--since 应为 YYYY-MM-DD / expected a date: {text!r}") from None


def _jsonl(path: Path) -> list[tuple[TicketSubmitted, datetime]]:
    from producers.publisher import build_submission
    from schemas.events import now_in_district

    now = now_in_district()
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
            fields.setdefault("channel_message_id", f"replay-{number}")
            out.append((build_submission(fields, now), now))
        except (ValueError, AttributeError) as exc:
            raise CliError(
                f"{path}:{number}: 不是工单 not a submission: {' '.join(str(exc).split())[:200]}"
            ) from None
    return out


def _recorded(settings: Settings, since: datetime | None) -> list[tuple[TicketSubmitted, datetime]]:
    from ztc.model_cmd import recorded_tickets

    records = sorted(recorded_tickets(settings), key=lambda r: (r.routed_at, r.ticket_id))
    return [(r.submission, r.routed_at) for r in records if since is None or r.routed_at >= since]


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    from streams.replay import Router, replay
    from ztc.bootstrap import load_checked_policy, load_model, policy_for
    from ztc.model_cmd import CURRENT, model_named

    live_policy = policy_for(settings)
    live = Router(live_policy, model_named(settings, live_policy, CURRENT))
    if args.policy is not None:
        policy = load_checked_policy(args.policy)
        own = load_model(args.policy, policy)
        model = own if args.model is None else model_named(settings, policy, args.model)
    else:
        policy, model = live_policy, model_named(settings, live_policy, args.model or CURRENT)
    source = args.replay
    cases = _recorded(settings, _since(args.since)) if source == "recorded" else _jsonl(Path(source))
    report = replay(cases, live, Router(policy, model))
    if args.as_json:
        print(json.dumps(report_json(report), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report_lines(report, args.show)))
    return 0


def _route(decision: Any) -> str:
    where = "人工分派 triage" if decision.manual_triage else "自动 auto"
    return f"{decision.lead_department}/{decision.category} {decision.confidence:.2f} {where}"


def report_json(report: ReplayReport) -> dict[str, Any]:
    return {
        "n": report.n,
        "changed": len(report.changes),
        "leads": {d: [report.leads_now[d], report.leads_then[d]] for d in report.departments},
        "changes": [
            {"ticket_id": now.ticket_id, "now": _route(now), "candidate": _route(then)}
            for now, then in report.changes
        ],
    }


def report_lines(report: ReplayReport, shown: int) -> list[str]:
    share = len(report.changes) / report.n if report.n else 0.0
    lines = [
        f"重放 replayed {report.n}，派单将改变 would route differently: {len(report.changes)} ({share:.1%})",
        "部门 department           现在主办 now   候选 candidate   变化 change",
    ]
    for department in report.departments:
        before, after = report.leads_now[department], report.leads_then[department]
        lines.append(f"  {department:<22}{before:>10}{after:>15}{after - before:>+13}")
    for now, then in report.changes[:shown]:
        lines.append(f"  {now.ticket_id}: {_route(now)} → {_route(then)}")
    return lines
