"""Benchmark: texts/s of the classifier's fast path vs a scikit-learn pipeline.

Both predict ONE text at a time (the router's hot path) on tipdm texts cut or
padded to ~230 characters, single-threaded, measured in the same run (best of
``--repeat`` passes, wall clock); the 1-minute load average is printed with the
numbers because this machine is shared and load lowers both.

    cd /work/main && PYTHONPATH=. .venv/bin/python bench/bench_classifier.py [--data CSV] [--n 2000]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streams.classifier_eval import read_labelled_csv
from streams.classifier_features import normalise, title_of
from streams.classifier_train import TrainConfig, fit

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tipdm2020c_train.csv"
LENGTH = 230


def fixed_length(text: str, length: int = LENGTH) -> str:
    """Cut ``text`` to ``length`` characters, or repeat it until it is that long."""
    while len(text) < length:
        text = text + " " + text
    return text[:length]


def sklearn_pipeline(texts: list[str], labels: list[str]) -> Any:
    """The equivalent scikit-learn pipeline: same two tf-idf blocks, a LinearSVC."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.svm import LinearSVC

    def vectoriser(pre: Callable[[str], str]) -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer="char", ngram_range=(1, 2), min_df=2, sublinear_tf=True, preprocessor=pre
        )

    union = FeatureUnion(
        [
            ("title", vectoriser(lambda t: title_of(normalise(t)))),
            ("text", vectoriser(normalise)),
        ],
        transformer_weights={"title": TrainConfig().title_weight},
    )
    pipeline = make_pipeline(union, LinearSVC(class_weight="balanced"))
    pipeline.fit(texts, labels)
    return pipeline


def rate(predict_one: Callable[[str], object], texts: list[str], repeat: int = 3) -> float:
    """Best-of-``repeat`` texts per second for calling ``predict_one`` on each text."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for text in texts:
            predict_one(text)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=2000, help="texts per timing pass")
    parser.add_argument("--repeat", type=int, default=5, help="timing passes (the best one counts)")
    args = parser.parse_args()
    texts, labels = read_labelled_csv(args.data)
    model = fit(texts, labels, seed=0)
    pipeline = sklearn_pipeline(texts, labels)
    sample = [fixed_length(texts[i % len(texts)]) for i in range(args.n)]

    def sklearn_one(text: str) -> object:
        return pipeline.decision_function([text])

    model.predict(sample[0])  # warm up (builds the NFKC lookup table once)
    load_before = os.getloadavg()[0]
    fast = rate(model.predict, sample, args.repeat)
    slow = rate(sklearn_one, sample[: max(200, args.n // 5)], args.repeat)
    load_after = os.getloadavg()[0]
    print(f"texts: {len(sample)} x {LENGTH} chars; model labels: {len(model.labels)}")
    print(f"fast path  (TextClassifier.predict):       {fast:10.0f} texts/s")
    print(f"baseline   (sklearn pipeline, 1 at a time): {slow:10.0f} texts/s")
    print(f"ratio fast/baseline: {fast / slow:.1f}x")
    print(f"load average (1 min, {os.cpu_count()} CPUs): {load_before:.2f} before, {load_after:.2f} after")


if __name__ == "__main__":
    main()
