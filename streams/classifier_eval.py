"""Evaluating a text classifier and reading its CSV files: pure Python, no scikit-learn.

Shared by training (``streams.classifier_train`` scores its out-of-fold
predictions with :func:`evaluate_predictions`) and by ``ztc classify
eval|predict``, which run on the runtime dependencies alone. Sits between
``streams.classifier`` (the model) and ``streams.classifier_train`` (fitting
one), so that neither needs the other's lazy imports.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streams.classifier import Prediction, TextClassifier

THRESHOLDS = [round(0.05 * i, 2) for i in range(20)] + [0.97, 0.98, 0.99]
PRECISION_TARGETS = (0.9, 0.95, 0.98)
# What a cross-validation keeps out of training (streams.classifier_select): whole subtopics, or
# only near-duplicates of a test row.
HELD_OUT = ("subtopic", "near-duplicate")


def evaluate(model: TextClassifier, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-label scores and the confidence coverage curve."""
    return evaluate_predictions([model.predict(t) for t in texts], labels)


def evaluate_predictions(predictions: Sequence[Prediction], labels: Sequence[str]) -> dict[str, Any]:
    """The `evaluate` dict for predictions against gold labels."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions but {len(labels)} labels")
    n = len(labels)
    hits = [p.label == gold for p, gold in zip(predictions, labels, strict=True)]
    per_label: dict[str, dict[str, float]] = {}
    for label in sorted(set(labels) | {p.label for p in predictions}):
        tp = sum(1 for p, g in zip(predictions, labels, strict=True) if p.label == label == g)
        predicted = sum(1 for p in predictions if p.label == label)
        support = sum(1 for g in labels if g == label)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    scored = [(p.confidence, hit) for p, hit in zip(predictions, hits, strict=True)]
    curve = [_coverage_point(scored, t, n) for t in THRESHOLDS]
    supported = [s["f1"] for s in per_label.values() if s["support"]]
    return {
        "n": n,
        "accuracy": sum(hits) / n if n else 0.0,
        "macro_f1": sum(supported) / len(supported) if supported else 0.0,
        "per_label": per_label,
        "coverage_curve": curve,
        "operating_points": [_operating_point(scored, target, n) for target in PRECISION_TARGETS],
    }


def _coverage_point(scored: list[tuple[float, bool]], threshold: float, n: int) -> dict[str, float]:
    kept = [hit for confidence, hit in scored if confidence >= threshold]
    precision = sum(kept) / len(kept) if kept else 1.0
    return {"threshold": threshold, "coverage": len(kept) / n if n else 0.0, "precision": precision}


def _operating_point(scored: list[tuple[float, bool]], target: float, n: int) -> dict[str, Any]:
    """The lowest threshold (step 0.01) whose auto-routed share has precision ≥ target."""
    for step in range(101):
        point = _coverage_point(scored, step / 100, n)
        if point["coverage"] > 0 and point["precision"] >= target:
            return {"target_precision": target, **point}
    return {"target_precision": target, "threshold": None, "coverage": 0.0, "precision": None}


def precision_at_coverage(scored: Sequence[tuple[float, bool]], coverage: float) -> float:
    """Precision of the surest ``coverage`` share (confidence, hit pairs; ties by order given)."""
    ranked = sorted(scored, key=lambda item: -item[0])
    kept = ranked[: max(1, round(coverage * len(ranked)))]
    return sum(hit for _, hit in kept) / len(kept) if kept else 0.0


def coverage_at_precision(scored: Sequence[tuple[float, bool]], target: float) -> float:
    """The largest share of the surest predictions whose precision is still ≥ ``target``."""
    ranked = sorted(scored, key=lambda item: -item[0])
    best, hits = 0, 0
    for count, (_, hit) in enumerate(ranked, start=1):
        hits += hit
        if hits >= target * count:
            best = count
    return best / len(ranked) if ranked else 0.0


def read_labelled_csv(path: Path) -> tuple[list[str], list[str]]:
    """Read a UTF-8 `text,label` CSV; ValueError with a one-line message on problems."""
    rows = _read_csv(Path(path), ("text", "label"))
    texts = [r["text"].strip() for r in rows]
    labels = [r["label"].strip() for r in rows]
    for line, (text, label) in enumerate(zip(texts, labels, strict=True), start=2):
        if not text or not label:
            raise ValueError(f"{path}: row {line} has an empty text or label")
    return texts, labels


def read_texts_csv(path: Path) -> list[str]:
    """The `text` column of a CSV (other columns ignored)."""
    return [r["text"].strip() for r in _read_csv(Path(path), ("text",))]


def read_lexicon_csv(path: Path) -> list[tuple[str, str]]:
    """Lexicon pseudo-documents from a taxonomy CSV (`level1,level2,level3`; label = level1)."""
    rows = _read_csv(Path(path), ("level1", "level2", "level3"))
    return [(f"{r['level2']}。{r['level3']}", r["level1"].strip()) for r in rows]


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            if not header:
                raise ValueError(f"{path}: empty file (expected a header {','.join(columns)})")
            missing = [c for c in columns if c not in header]
            if missing:
                raise ValueError(
                    f"{path}: missing column(s) {', '.join(missing)} (header is {','.join(header)})"
                )
            rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    except FileNotFoundError:
        raise ValueError(f"{path}: file not found") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: not a readable UTF-8 CSV ({exc})") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a CSV file") from None
    if not rows:
        raise ValueError(f"{path}: no data rows")
    return rows
