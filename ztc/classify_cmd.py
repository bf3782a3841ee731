"""`ztc classify` subcommands: train, evaluate and run the ticket text classifier.

User mistakes (missing files, bad CSV, bad model) print one line to stderr,
``错误 / error: ...``, and exit with status 2; no stack traces. ``train`` needs
the ``ztc[train]`` extra (scikit-learn, scipy) and says so in one line without
it; ``eval`` and ``predict`` run on the runtime dependencies alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from importlib.resources import files
from pathlib import Path
from typing import Any

from streams.classifier import ModelLoadError, TextClassifier
from streams.classifier_eval import HELD_OUT, evaluate, read_labelled_csv, read_lexicon_csv, read_texts_csv
from ztc.model_cmd import CommandError, add_history_arguments, add_model_commands

EXIT_USER_ERROR = 2
TRAINING_MODULES = frozenset({"sklearn", "scipy"})
MISSING_TRAINING = (
    "training needs scikit-learn and scipy ({module} is not installed): pip install 'ztc[train]'"
)
SHOWN_THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95)
# Category words written from what each of the seven 12345-style categories covers (not from any
# labelled message); with the taxonomy it is what lets the model name subtopics it has not seen.
SHIPPED_LEXICON = Path(str(files("deploy") / "policy" / "category-lexicon.csv"))


def add_classify_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `classify train|eval|predict` on the top-level `ztc` parser."""
    parser = subparsers.add_parser("classify", help="工单文本分类 / ticket text classifier")
    commands = parser.add_subparsers(dest="classify_command", required=True)

    train = commands.add_parser("train", help="训练并交叉验证 / cross-validate, then train")
    train.add_argument("--data", type=Path, default=None, help="text,label CSV (or/and --from-history)")
    train.add_argument("--out", type=Path, required=True, help="模型输出路径 / model JSON to write")
    train.add_argument("--folds", type=int, default=5, help="交叉验证折数 / CV folds (0 = skip)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--lexicon",
        type=Path,
        action="append",
        default=None,
        help=(
            "分类词表 / lexicon CSV level1,level2,level3, repeatable (default: *taxonomy.csv beside"
            " --data plus the shipped deploy/policy/category-lexicon.csv)"
        ),
    )
    train.add_argument("--no-lexicon", action="store_true", help="不使用词表 / use no lexicon")
    train.add_argument(
        "--held-out",
        choices=HELD_OUT,
        default="subtopic",
        help="交叉验证留出 / what CV keeps out of training: whole subtopics (default) or near-duplicates",
    )
    train.add_argument(
        "--nested",
        type=int,
        default=0,
        metavar="SEEDS",
        help="嵌套交叉验证 / also run nested CV of the whole select-then-fit procedure with SEEDS seeds",
    )
    train.add_argument(
        "--learning-curve",
        action="store_true",
        help="学习曲线 / accuracy when training on shares of the data",
    )
    add_history_arguments(train)
    train.set_defaults(func=run_train)

    ev = commands.add_parser("eval", help="评估模型 / evaluate a model on labelled data")
    ev.add_argument("--model", type=Path, required=True)
    ev.add_argument("--data", type=Path, required=True, help="text,label CSV")
    ev.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    ev.set_defaults(func=run_eval)

    predict = commands.add_parser("predict", help="预测分类 / predict categories")
    predict.add_argument("--model", type=Path, required=True)
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="一条文本 / one text")
    source.add_argument("--data", type=Path, help="CSV with a text column")
    predict.add_argument("--json", action="store_true", help="输出 JSON 行 / print JSON lines")
    predict.set_defaults(func=run_predict)
    add_model_commands(commands)


def _fail(message: str) -> int:
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in message)
    print(f"错误 / error: {message if chinese else f'模型命令无法执行 / {message}'}", file=sys.stderr)
    return EXIT_USER_ERROR


def _lexicon(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Pseudo-documents of every lexicon given, or of the default ones (all labels: the caller filters)."""
    if args.no_lexicon:
        return []
    paths: list[Path] = list(args.lexicon or [])
    if not paths:
        beside = sorted(Path(args.data).parent.glob("*taxonomy.csv")) if args.data is not None else []
        paths = [*beside[:1], SHIPPED_LEXICON]
    rows: list[tuple[str, str]] = []
    for path in paths:
        print(f"词表 / lexicon: {path}")
        rows.extend(read_lexicon_csv(path))
    return rows


def run_train(args: argparse.Namespace) -> int:
    try:
        from streams.classifier_select import TooFewGroups, select_candidate
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in TRAINING_MODULES:
            raise
        return _fail(MISSING_TRAINING.format(module=exc.name))
    try:
        texts, labels = _training_rows(args)
        trained = set(labels)
        lexicon = [(text, label) for text, label in _lexicon(args) if label in trained]
        if not args.no_lexicon:
            print(f"词表条目 / lexicon rows for these labels: {len(lexicon)}")
        if len(set(labels)) < 2:
            return _fail(f"{args.data or 'history'}: need at least two distinct labels")
        if args.folds == 1 or args.folds < 0:
            return _fail("--folds must be 0 (skip) or at least 2")
        print(
            f"数据 / data: {args.data or ''}{' + history' if args.from_history else ''} ({len(texts)} rows)"
        )
        for label, count in sorted(Counter(labels).items(), key=lambda item: -item[1]):
            print(f"  {label:<24} {count:>5}")
        candidate, scores = select_candidate(
            texts, labels, lexicon=lexicon, seed=args.seed, held_out=args.held_out
        )
        for name, accuracy in scores.items():
            print(f"  候选 / candidate {name:<30} inner-CV accuracy {accuracy:.3f}")
        print(f"选用 / chosen: {candidate.name}")
        used = lexicon if candidate.use_lexicon else []
        smallest = min(Counter(labels).values())
        if args.folds >= 2 and smallest >= args.folds:
            _print_held_out_cv(args, candidate, texts, labels, used)
        elif args.folds >= 2:
            print(f"跳过交叉验证 / CV skipped: smallest class has {smallest} rows < {args.folds} folds")
        try:
            _honest_estimates(args, texts, labels, lexicon, candidate)
        except TooFewGroups as exc:
            print(f"跳过嵌套交叉验证 / nested CV skipped: {exc}")
        _fit_chosen(candidate, texts, labels, used, args.seed, _version(args)).save(args.out)
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    print(f"模型已保存 / model written: {args.out}")
    return 0


def _print_held_out_cv(
    args: argparse.Namespace, candidate: Any, texts: list[str], labels: list[str], used: Any
) -> None:
    from streams.classifier_select import TooFewGroups, held_out_cross_validate

    try:
        report = held_out_cross_validate(
            candidate,
            texts,
            labels,
            lexicon=used,
            folds=args.folds,
            seed=args.seed,
            held_out=args.held_out,
        )
    except TooFewGroups as exc:
        print(f"跳过交叉验证 / CV skipped: {exc}")
        return
    print(
        f"交叉验证 / {args.folds}-fold CV of the chosen candidate, {args.held_out} rows held out"
        " (chosen on these rows: --nested gives the honest figure):"
    )
    _print_summary(report)
    _print_headline(report)


def _training_rows(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The CSV's rows, then (``--from-history``) the office's dispatched tickets."""
    if args.data is None and not args.from_history:
        raise CommandError("需要 --data 或 --from-history / give --data CSV, --from-history or both")
    texts, labels = read_labelled_csv(args.data) if args.data is not None else ([], [])
    if args.from_history:
        from ztc.bootstrap import settings_from_env
        from ztc.model_cmd import history_rows

        more_texts, more_labels = history_rows(settings_from_env(), args.history_weight)
        texts, labels = texts + more_texts, labels + more_labels
    return texts, labels


def _version(args: argparse.Namespace) -> str:
    from schemas.events import now_in_district

    given: str | None = args.version
    return given or now_in_district().strftime("%Y%m%d-%H%M%S") + ("-history" if args.from_history else "")


def _fit_chosen(
    candidate: Any, texts: list[str], labels: list[str], lexicon: Any, seed: int, version: str | None = None
) -> TextClassifier:
    from streams.classifier_train import fit

    model = fit(texts, labels, seed=seed, lexicon=lexicon, config=candidate.config, version=version)
    payload = model.to_payload()
    payload["training"] = {**payload["training"], "candidate": candidate.name}
    return TextClassifier(payload)


def _honest_estimates(
    args: argparse.Namespace,
    texts: list[str],
    labels: list[str],
    lexicon: list[tuple[str, str]],
    candidate: Any,
) -> None:
    from streams.classifier_select import learning_curve, nested_cross_validate

    folds = max(2, args.folds)
    if args.nested > 0:
        seeds = list(range(args.seed, args.seed + args.nested))
        nested = nested_cross_validate(
            texts, labels, lexicon=lexicon, folds=folds, seeds=seeds, held_out=args.held_out
        )
        print(
            f"嵌套交叉验证 / nested {folds}-fold CV, {args.held_out} rows held out, selection inside,"
            f" seeds {seeds} (mean ± sd):"
        )
        for key, (mean, sd) in nested["summary"].items():
            print(f"  {key:<18} {mean:.3f} ± {sd:.3f}")
        for run in nested["runs"]:
            print(f"  seed {run['seed']}: accuracy {run['accuracy']:.3f}, chosen {', '.join(run['chosen'])}")
    if args.learning_curve:
        print(f"学习曲线 / learning curve ({folds}-fold, {candidate.name}):")
        curve = learning_curve(
            texts,
            labels,
            lexicon=lexicon if candidate.use_lexicon else (),
            candidate=candidate,
            folds=folds,
            seeds=[args.seed],
            held_out=args.held_out,
        )
        for point in curve:
            print(
                f"  {point['fraction']:>5.0%} ≈ {point['n_train']:>5} rows:"
                f" accuracy {point['accuracy']:.3f}, macro-F1 {point['macro_f1']:.3f}"
            )


def run_eval(args: argparse.Namespace) -> int:
    try:
        model = TextClassifier.load(args.model)
        texts, labels = read_labelled_csv(args.data)
    except (ModelLoadError, ValueError, OSError) as exc:
        return _fail(str(exc))
    report = evaluate(model, texts, labels)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_summary(report)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    try:
        model = TextClassifier.load(args.model)
        texts = [args.text] if args.text is not None else read_texts_csv(args.data)
    except (ModelLoadError, ValueError, OSError) as exc:
        return _fail(str(exc))
    for text in texts:
        prediction = model.predict(text)
        if args.json:
            record = {"text": text, "label": prediction.label, "confidence": prediction.confidence}
            record["probabilities"] = prediction.probabilities
            print(json.dumps(record, ensure_ascii=False))
        else:
            top = model.explain(text, prediction.label, top_k=5)
            why = " ".join(gram for gram, _ in top)
            print(f"{prediction.label}\t{prediction.confidence:.3f}\t{text[:40]}\t[{why}]")
    return 0


def _print_headline(report: dict[str, Any]) -> None:
    print(
        f"  最有把握的一半准确率 / precision of the surest half = {report['precision_at_half']:.3f}"
        f"   准确率≥0.95可自动派单 / coverage at precision ≥ 0.95 = {report['coverage_at_95']:.0%}"
    )


def _print_summary(report: dict[str, Any]) -> None:
    print(f"  样本 / n = {report['n']}")
    print(f"  准确率 / accuracy = {report['accuracy']:.3f}   宏F1 / macro-F1 = {report['macro_f1']:.3f}")
    print(f"  {'label':<24} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}")
    for label, scores in report["per_label"].items():
        print(
            f"  {label:<24} {scores['precision']:>9.3f} {scores['recall']:>7.3f}"
            f" {scores['f1']:>6.3f} {scores['support']:>8}"
        )
    print("  置信度阈值 / threshold   覆盖率 / coverage   精确率 / precision")
    for point in report["coverage_curve"]:
        if point["threshold"] in SHOWN_THRESHOLDS:
            print(f"  {point['threshold']:>8.2f} {point['coverage']:>18.3f} {point['precision']:>18.3f}")
    for op in report.get("operating_points", []):
        if op["threshold"] is None:
            print(f"  精确率≥{op['target_precision']}: 无 / none")
        else:
            print(
                f"  精确率≥{op['target_precision']} / precision ≥ {op['target_precision']}:"
                f" threshold {op['threshold']:.2f}, coverage {op['coverage']:.3f}"
            )
