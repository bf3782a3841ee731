"""In-process stages: ``route_ticket`` vs the model alone, the classifier vs scikit-learn.

All single-threaded in this process, best of the repetitions' passes not
taken: every repetition is one figure, median and range as everywhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from bench.bench_classifier import DEFAULT_DATA, fixed_length, sklearn_pipeline
from bench.context import Context
from bench.report import Figure, Row, StageResult, at_least
from schemas.events import now_in_district
from streams.routing import route_ticket

T = TypeVar("T")


def _per_second(call: Callable[[T], object], items: Sequence[T]) -> float:
    began = time.perf_counter()
    for item in items:
        call(item)
    return len(items) / (time.perf_counter() - began)


def route_stage(ctx: Context) -> StageResult:
    result = StageResult("route")
    model = ctx.model
    policy = ctx.stack.policy
    subs = ctx.submissions("route", min(ctx.options.tickets, 5000))
    now = now_in_district()
    routed, alone = [], []
    route_ticket(subs[0], policy, now, model=model)  # warm caches
    for _ in range(ctx.options.repeat):
        routed.append(_per_second(lambda s: route_ticket(s, policy, now, model=model), subs))
        if model is not None:
            alone.append(_per_second(model.predict, [s.text for s in subs]))
    result.rows.append(
        Row(
            "route",
            "route_ticket in-process, one thread",
            Figure.of(routed, "tickets/s"),
            Figure.of(alone, "texts/s") if alone else None,
            "the policy's model alone (predict)",
            at_least(5000, on="ztc", text="≥ 5,000/s"),
        )
    )
    return result


def classifier_stage(ctx: Context) -> StageResult:
    """The classifier bench that was ``make bench`` before: fast path vs the sklearn pipeline, same texts."""
    from streams.classifier_eval import read_labelled_csv
    from streams.classifier_train import fit

    result = StageResult("classifier")
    if not DEFAULT_DATA.exists():
        result.notes.append(f"skipped: {DEFAULT_DATA} not found")
        return result
    texts, labels = read_labelled_csv(DEFAULT_DATA)
    model = fit(texts, labels, seed=0)
    pipeline = sklearn_pipeline(texts, labels)
    n = 400 if ctx.options.quick else 2000
    sample = [fixed_length(texts[i % len(texts)]) for i in range(n)]
    slow_sample = sample[: max(100, n // 5)]
    model.predict(sample[0])
    fast, slow = [], []
    for _ in range(ctx.options.repeat):
        fast.append(_per_second(model.predict, sample))
        slow.append(_per_second(lambda text: pipeline.decision_function([text]), slow_sample))
    result.rows.append(
        Row(
            "classifier",
            f"TextClassifier.predict, {n:,} texts × 230 chars",
            Figure.of(fast, "texts/s"),
            Figure.of(slow, "texts/s"),
            "sklearn pipeline, 1 at a time",
        )
    )
    result.extra["model_labels"] = len(model.labels)
    return result
