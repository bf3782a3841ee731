"""`ztc classify switch|compare` and the recorded history `classify train --from-history` reads.

``switch MODEL`` checks a model file (it loads, and its labels map to the policy's categories)
and makes it the routers' active model (``streams.model_registry``); running routers take it
within ``ZTC_MODEL_CHECK_S`` without a restart. ``compare OLD NEW`` routes labelled tickets with
both models (``streams.model_compare``): the office's hand-dispatched tickets in Redis, or a
``text,label`` CSV. Mistakes print one line, Chinese and English, and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ztc.errors import CliError

if TYPE_CHECKING:
    from schemas.policy import RoutingPolicy
    from schemas.settings import Settings
    from schemas.ticket import TicketRecord
    from streams.classifier import TextClassifier
    from streams.history_labels import HistoryLabels
    from streams.model_compare import Case, Comparison
    from streams.model_registry import ModelRegistry

CURRENT = "current"
POLICY = "policy"
SHOWN_CHANGES = 20


class CommandError(ValueError):
    """A mistake the user can fix: printed as one line."""


def add_model_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    switch = commands.add_parser(
        "switch", help="切换路由使用的模型（无需重启）/ make a model the routers' active one, no restart"
    )
    target = switch.add_mutually_exclusive_group(required=True)
    target.add_argument("model", nargs="?", type=Path, help="模型文件 / model JSON to switch to")
    target.add_argument("--status", action="store_true", help="当前模型 / show the active model")
    target.add_argument("--reset", action="store_true", help="恢复政策自带模型 / back to the policy's model")
    switch.set_defaults(func=run_switch)

    compare = commands.add_parser(
        "compare", help="比较两个模型的派单效果 / route labelled tickets with two models, side by side"
    )
    compare.add_argument("old", help="旧模型：文件、current（在用）或 policy / model file, current or policy")
    compare.add_argument("new", help="新模型 / model file, current or policy")
    compare.add_argument(
        "--data", type=Path, help="text,label CSV（标签为类别）; 默认：人工派单历史 / history"
    )
    compare.add_argument("--last", type=int, default=0, metavar="N", help="只用最近 N 件 / last N tickets")
    compare.add_argument("--show", type=int, default=SHOWN_CHANGES, help="列出的改变派单数 / changes listed")
    compare.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    compare.set_defaults(func=run_compare)


def add_history_arguments(train: argparse.ArgumentParser) -> None:
    """``classify train``'s options for learning from the office's dispatches."""
    train.add_argument(
        "--from-history",
        action="store_true",
        help="用人工派单历史训练（可与 --data 合并）/ train on the office's recorded dispatches (+ --data)",
    )
    train.add_argument(
        "--history-weight", type=int, default=1, metavar="K", help="历史样本重复 K 次 / repeat each K times"
    )
    train.add_argument("--version", default=None, help="模型版本 / model version (default: the time)")


# ------------------------------------------------------------------ reading the history


def recorded_tickets(settings: Settings) -> Iterator[TicketRecord]:
    from consumers.redis_batch import TicketKeys
    from consumers.redis_rebuild import every_ticket
    from ztc.bootstrap import redis_client

    for batch in every_ticket(redis_client(settings), TicketKeys(settings.redis_prefix), 500):
        yield from batch


def history(settings: Settings, policy: RoutingPolicy, last: int = 0) -> HistoryLabels:
    from streams.history_labels import history_labels

    records = sorted(recorded_tickets(settings), key=lambda r: (r.routed_at, r.ticket_id))
    return history_labels(records[-last:] if last > 0 else records, policy)


def print_history_counts(found: HistoryLabels) -> None:
    from streams.history_labels import SKIP_REASONS

    used, skipped = len(found.labelled), found.skipped.total()
    print(f"人工派单历史 / office dispatch history: 采用 used {used}，跳过 skipped {skipped}")
    for reason, count in found.skipped.most_common():
        print(f"  跳过 skipped {count:>5}  {SKIP_REASONS[reason]}")


def history_rows(settings: Settings, weight: int) -> tuple[list[str], list[str]]:
    """The texts and labels ``classify train --from-history`` adds (each ``weight`` times)."""
    from ztc.bootstrap import policy_for

    if weight < 1:
        raise CommandError("--history-weight 至少为 1 / must be at least 1")
    found = history(settings, policy_for(settings))
    print_history_counts(found)
    return (
        [h.text for h in found.labelled for _ in range(weight)],
        [h.label for h in found.labelled for _ in range(weight)],
    )


# ------------------------------------------------------------------ switch


def _registry(settings: Settings) -> ModelRegistry:
    from streams.model_registry import ModelRegistry
    from ztc.bootstrap import redis_client

    return ModelRegistry(redis_client(settings), settings.redis_prefix)


def run_switch(args: argparse.Namespace) -> int:
    from schemas.events import now_in_district
    from streams.classifier import ModelLoadError, TextClassifier
    from streams.routing import model_fit_problem
    from ztc.bootstrap import policy_for, settings_from_env

    settings = settings_from_env()
    registry = _registry(settings)
    if args.status:
        return _print_status(settings, registry)
    if args.reset:
        reset = registry.reset(now_in_district())
        print(
            "已恢复政策自带模型 / routers go back to the policy's model"
            if reset
            else "未切换过 / no switch to undo"
        )
        return 0
    try:
        raw = Path(args.model).read_bytes()
        model = TextClassifier.from_bytes(raw, str(args.model))
    except FileNotFoundError:
        raise CliError(f"模型文件不存在 model file not found: {args.model}；未切换 / not switched") from None
    except (ModelLoadError, OSError) as exc:
        raise CliError(f"模型不可用，未切换 / model refused, not switched: {exc}") from None
    policy = policy_for(settings)
    problem = model_fit_problem(model.labels, policy)
    if problem is not None:
        raise CliError(f"模型与政策不符，未切换 / model refused, not switched: {args.model}: {problem}")
    pointer = registry.publish(model, raw, str(Path(args.model).resolve()), now_in_district())
    print(f"已切换模型 / active model: {pointer.short}（{pointer.source}）")
    print(
        f"运行中的路由 {settings.model_check_s:g} 秒内启用 / running routers take it within that many seconds"
    )
    return 0


def _print_status(settings: Settings, registry: ModelRegistry) -> int:
    from ztc.bootstrap import model_for, policy_for

    policy = policy_for(settings)
    own = model_for(settings, policy)
    pointer = registry.active()
    print(f"政策自带模型 / policy's model: {own.identity.short if own is not None else '无 none'}")
    active = f"{pointer.short}（{pointer.source}）" if pointer else "政策自带 the policy's"
    print(f"在用模型 / active model: {active}")
    for entry in registry.switches()[:5]:
        print(f"  {json.dumps(entry, ensure_ascii=False)}")
    return 0


# ------------------------------------------------------------------ compare


def model_named(settings: Settings, policy: RoutingPolicy, which: str) -> TextClassifier | None:
    """``policy`` (the policy's own), ``current`` (the routers' active one, else the policy's) or a file."""
    from streams.classifier import TextClassifier
    from ztc.bootstrap import model_for

    if which == POLICY:
        return model_for(settings, policy)
    if which == CURRENT:
        from redis.exceptions import ConnectionError as RedisDown

        registry = _registry(settings)
        try:
            pointer = registry.active()
        except RedisDown:
            print("Redis 无法连接，按政策自带模型 / Redis unreachable: the policy's model", file=sys.stderr)
            pointer = None
        return registry.load(pointer) if pointer is not None else model_for(settings, policy)
    return TextClassifier.load(Path(which))


def _csv_cases(path: Path, policy: RoutingPolicy) -> list[Case]:
    from producers.publisher import build_submission
    from schemas.events import now_in_district
    from streams.classifier_eval import read_labelled_csv
    from streams.model_compare import Case

    texts, labels = read_labelled_csv(path)
    category_of = {label: c.code for c in policy.categories for label in (c.code, *c.model_labels)}
    now = now_in_district()
    cases = []
    for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
        if label in category_of:
            fields = {"channel": "cli", "channel_message_id": f"compare-{i}", "text": text}
            cases.append(Case(build_submission(fields, now), category_of[label], now))
    print(f"数据 / data: {path}: {len(cases)} of {len(texts)} rows have a category of the policy")
    return cases


def _history_cases(settings: Settings, policy: RoutingPolicy, last: int) -> list[Case]:
    from streams.model_compare import Case

    found = history(settings, policy, last)
    print_history_counts(found)
    return [Case(h.submission, h.category, h.routed_at) for h in found.labelled]


def run_compare(args: argparse.Namespace) -> int:
    from streams.classifier import ModelLoadError
    from streams.model_compare import compare_models
    from ztc.bootstrap import policy_for, settings_from_env

    settings = settings_from_env()
    policy = policy_for(settings)
    try:
        old, new = model_named(settings, policy, args.old), model_named(settings, policy, args.new)
        cases = _csv_cases(args.data, policy) if args.data else _history_cases(settings, policy, args.last)
    except (ModelLoadError, ValueError, OSError) as exc:
        raise CliError(f"无法比较 cannot compare: {exc}") from None
    if not cases:
        raise CliError("没有可比较的已标注工单 / no labelled tickets to compare on")
    result = compare_models(cases, policy, old, new)
    if args.json:
        print(json.dumps(comparison_json(result), ensure_ascii=False, indent=2))
    else:
        print("\n".join(comparison_lines(result, policy.threshold, args.show)))
    return 0


def comparison_json(result: Comparison) -> dict[str, Any]:
    def scores(s: Any) -> dict[str, Any]:
        return {
            "accuracy": s.accuracy,
            "auto_share": s.auto_share,
            "auto_precision": s.auto_precision,
            "per_category": s.per_category,
        }

    changes = [
        {"ticket_id": c.ticket_id, "gold": c.gold, "old": _route(c.old), "new": _route(c.new)}
        for c in result.changes
    ]
    return {"n": result.old.n, "old": scores(result.old), "new": scores(result.new), "changes": changes}


def _route(decision: Any) -> str:
    where = "人工分派 triage" if decision.manual_triage else "自动 auto"
    return f"{decision.lead_department}/{decision.category} {decision.confidence:.2f} {where}"


def _cell(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (a Chinese character takes two)."""
    wide = sum(1 for ch in text if unicodedata.east_asian_width(ch) in "WF")
    return text + " " * max(0, width - len(text) - wide)


def comparison_lines(result: Comparison, threshold: float, shown: int) -> list[str]:
    old, new = result.old, result.new
    rows = [
        ("准确率 accuracy", old.accuracy, new.accuracy),
        ("自动派单占比 auto-routed share", old.auto_share, new.auto_share),
        (f"自动派单精确率 precision at ≥ {threshold}", old.auto_precision, new.auto_precision),
    ]
    lines = [f"样本 / n = {old.n}", f"{_cell('指标 metric', 42)}   旧 old   新 new"]
    lines += [f"{_cell(name, 42)}{a:>10.3f}{b:>10.3f}" for name, a, b in rows]
    lines.append(f"{_cell('类别 category', 24)}{_cell('件数 n', 10)}{_cell('旧对 old ok', 14)}新对 new ok")
    for category, n in sorted(result.support.items(), key=lambda kv: (-kv[1], kv[0])):
        before, after = old.per_category.get(category, 0), new.per_category.get(category, 0)
        mark = "" if before == after else ("  ↑" if after > before else "  ↓")
        lines.append(f"{_cell(category, 24)}{n:<10}{before:<14}{after}{mark}")
    lines.append(f"派单将改变 / routes that change: {len(result.changes)}")
    for change in result.changes[:shown]:
        lines.append(
            f"  {change.ticket_id} 应为 should be {change.gold}: {_route(change.old)} → {_route(change.new)}"
        )
    return lines
