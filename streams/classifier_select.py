"""Honest estimates for the ticket classifier: nested cross-validation and a learning curve.

Needs the ``ztc[train]`` extra, like `streams.classifier_train`. The training
procedure that ``ztc classify train`` runs is "choose a candidate (n-gram
range, mix, lexicon weight, use of the taxonomy pseudo-documents) by inner
cross-validation, then fit it, temperature included, on all rows". A plain
k-fold CV of the finally chosen settings is optimistic: the choice was made
on the same folds. Here the WHOLE procedure runs inside each outer fold:

* outer: stratified k folds over *groups*, never straddling train and test.
  By default a group is a **subtopic**: each label's rows are clustered
  (k-means on character-bigram tf-idf, about `SUBTOPIC_SIZE` rows a cluster),
  so a test fold holds whole subtopics the training folds never saw, as new
  messages from another period or place do. ``held_out="near-duplicate"`` gives
  the milder split: only near-duplicate rows (character-trigram Jaccard ≥
  `NEAR_DUPLICATE_JACCARD`) share a group. Near-duplicates always share one;
* inner: on the outer training rows only, every candidate is scored by an
  inner grouped CV (same kind of groups; accuracy, then macro-F1); the best one
  is fitted on those rows with its own inner temperature fit and predicts the
  outer test rows;
* repeated with several seeds; mean ± sd over seeds of accuracy, macro-F1,
  precision of the surest half, coverage at precision ≥ 0.95.

The learning curve fits the default candidate on growing stratified shares of
each outer training fold and scores the same outer test fold.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from streams.classifier import Prediction
from streams.classifier_eval import (
    HELD_OUT,
    coverage_at_precision,
    evaluate_predictions,
    precision_at_coverage,
)
from streams.classifier_features import char_ngrams, normalise
from streams.classifier_train import TrainConfig, fit

NEAR_DUPLICATE_JACCARD = 0.5
# Rows per subtopic cluster. Random splits of the 494 tipdm rows say ~0.89 accuracy, kept-aside
# messages of the same source gave 0.82 (issue 14); held-out subtopics of about this size
# reproduce that gap (0.823) for the model measured then — see the README's "Honest estimates".
SUBTOPIC_SIZE = 8
INNER_FOLDS = 3
LEARNING_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)
Lexicon = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Candidate:
    """One choice the inner loop makes: training settings and whether to add the lexicon."""

    name: str
    config: TrainConfig
    use_lexicon: bool = True


_BASE = TrainConfig()
# Character 1-3-grams scored about as well in nested CV but cost a third of the prediction
# speed (about 3,300 vs 5,000 texts/s in one run), below the router's 5,000/s: not a candidate.
CANDIDATES: tuple[Candidate, ...] = (
    Candidate("char1-2 lexicon×1", _BASE),
    Candidate("char1-2 lexicon×3", replace(_BASE, lexicon_weight=3.0)),
    Candidate("char1-2 lexicon×6", replace(_BASE, lexicon_weight=6.0)),
    Candidate("char1-2 lexicon×12", replace(_BASE, lexicon_weight=12.0)),
    Candidate("char1-2 lexicon×12 words×1.5", replace(_BASE, lexicon_weight=12.0, lexicon_boost=1.5)),
    Candidate("char1-2 no-lexicon", _BASE, use_lexicon=False),
)


def near_duplicate_groups(texts: Sequence[str], threshold: float = NEAR_DUPLICATE_JACCARD) -> list[int]:
    """A group id per text; texts whose trigram sets overlap ≥ threshold (Jaccard) share one."""
    shingles = [set(char_ngrams(normalise(t), 3, 3)) for t in texts]
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, mine in enumerate(shingles):
        for j in range(i):
            theirs = shingles[j]
            if mine and theirs and len(mine & theirs) >= threshold * len(mine | theirs):
                parent[root(i)] = root(j)
    return [root(i) for i in range(len(texts))]


def subtopic_groups(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    size: int = SUBTOPIC_SIZE,
    min_groups: int = 2,
    seed: int = 0,
) -> list[int]:
    """A group id per text: its label's k-means cluster (about ``size`` rows each).

    Each label gets at least ``min_groups`` clusters (so k folds can each hold
    some of every label) and never more than it has rows. Near-duplicates are
    put in the cluster of the first of them, so they still never straddle folds.
    """
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    near = near_duplicate_groups(texts)
    groups = [0] * len(texts)
    next_id = 0
    for label in sorted(set(labels)):
        rows = [i for i, lab in enumerate(labels) if lab == label]
        k = min(len(rows), max(min_groups, round(len(rows) / size)))
        if k <= 1:
            cluster_of = [0] * len(rows)
        else:
            vectors = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), sublinear_tf=True)
            matrix = vectors.fit_transform([normalise(texts[i]) for i in rows])
            kmeans = KMeans(n_clusters=k, n_init=5, random_state=seed).fit(matrix)
            cluster_of = [int(c) for c in kmeans.labels_]
        for i, cluster in zip(rows, cluster_of, strict=True):
            groups[i] = next_id + cluster
        next_id += k
    return [groups[root] for root in near]


def held_out_groups(
    texts: Sequence[str], labels: Sequence[str], held_out: str, *, folds: int, seed: int
) -> list[int]:
    """The groups a split keeps whole: subtopics (default) or near-duplicates only."""
    if held_out == "subtopic":
        return subtopic_groups(texts, labels, min_groups=folds, seed=seed)
    if held_out == "near-duplicate":
        return near_duplicate_groups(texts)
    raise ValueError(f"held_out must be one of {', '.join(HELD_OUT)}, not {held_out!r}")


class TooFewGroups(ValueError):
    """The rows form fewer groups (near-duplicates, subtopics) than the folds asked for."""


def _splits(labels: Sequence[str], groups: Sequence[int], folds: int, seed: int) -> list[Any]:
    # Imported here so that, without the extra, the first missing module is scipy's (via fit).
    from sklearn.model_selection import StratifiedGroupKFold

    distinct = len(set(groups))
    if distinct < folds:
        raise TooFewGroups(f"only {distinct} groups of rows (near-duplicates share one) for {folds} folds")

    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), list(labels), list(groups)))


def _fit_candidate(
    candidate: Candidate, texts: Sequence[str], labels: Sequence[str], lexicon: Lexicon, seed: int
) -> Any:
    return fit(
        texts, labels, seed=seed, lexicon=lexicon if candidate.use_lexicon else (), config=candidate.config
    )


def usable_candidates(lexicon: Lexicon, candidates: Sequence[Candidate] = CANDIDATES) -> list[Candidate]:
    """Without a lexicon, candidates that differ only in its use or weight collapse into one."""
    if lexicon:
        return list(candidates)
    seen: set[tuple[int, int]] = set()
    kept = []
    for candidate in candidates:
        if candidate.config.ngram not in seen:
            seen.add(candidate.config.ngram)
            low, high = candidate.config.ngram
            kept.append(replace(candidate, name=f"char{low}-{high}", use_lexicon=False))
    return kept


def select_candidate(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    lexicon: Lexicon = (),
    candidates: Sequence[Candidate] = CANDIDATES,
    folds: int = INNER_FOLDS,
    seed: int = 0,
    held_out: str = "subtopic",
) -> tuple[Candidate, dict[str, float]]:
    """The candidate with the best grouped-CV accuracy (macro-F1 breaks ties) and every score.

    Inner fits skip the temperature (it does not change which label wins).
    """
    pool = usable_candidates(lexicon, candidates)
    smallest = min(np.unique(list(labels), return_counts=True)[1])
    if len(pool) == 1 or smallest < folds:
        return pool[0], {}
    groups = held_out_groups(texts, labels, held_out, folds=folds, seed=seed)
    try:
        splits = _splits(labels, groups, folds, seed)
    except TooFewGroups:
        return pool[0], {}
    scores: dict[str, float] = {}
    best: tuple[tuple[float, float], Candidate] | None = None
    for candidate in pool:
        quick = replace(candidate, config=replace(candidate.config, calibration_folds=0))
        predictions, gold = _out_of_fold(quick, texts, labels, lexicon, splits, seed)
        report = evaluate_predictions(predictions, gold)
        key = (round(report["accuracy"], 6), round(report["macro_f1"], 6))
        scores[candidate.name] = report["accuracy"]
        if best is None or key > best[0]:
            best = (key, candidate)
    assert best is not None
    return best[1], scores


def _out_of_fold(
    candidate: Candidate,
    texts: Sequence[str],
    labels: Sequence[str],
    lexicon: Lexicon,
    splits: Sequence[Any],
    seed: int,
) -> tuple[list[Prediction], list[str]]:
    predictions: list[Prediction] = []
    gold: list[str] = []
    for train, test in splits:
        model = _fit_candidate(
            candidate, [texts[i] for i in train], [labels[i] for i in train], lexicon, seed
        )
        predictions.extend(model.predict(texts[i]) for i in test)
        gold.extend(labels[i] for i in test)
    return predictions, gold


def held_out_cross_validate(
    candidate: Candidate,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    lexicon: Lexicon = (),
    folds: int = 5,
    seed: int = 0,
    held_out: str = "subtopic",
) -> dict[str, Any]:
    """Grouped k-fold CV of one candidate: the per-label report plus `headline`'s four figures.

    Still optimistic when ``candidate`` was chosen on these rows (see `nested_cross_validate`).
    """
    groups = held_out_groups(texts, labels, held_out, folds=folds, seed=seed)
    splits = _splits(labels, groups, folds, seed)
    predictions, gold = _out_of_fold(candidate, texts, labels, lexicon, splits, seed)
    report = evaluate_predictions(predictions, gold)
    report.update(headline(predictions, gold), folds=folds, seed=seed, held_out=held_out)
    return report


def headline(predictions: Sequence[Prediction], gold: Sequence[str]) -> dict[str, float]:
    """The four figures the issue's bar is stated in."""
    report = evaluate_predictions(predictions, gold)
    scored = [(p.confidence, p.label == g) for p, g in zip(predictions, gold, strict=True)]
    return {
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "precision_at_half": precision_at_coverage(scored, 0.5),
        "coverage_at_95": coverage_at_precision(scored, 0.95),
    }


def nested_cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    lexicon: Lexicon = (),
    candidates: Sequence[Candidate] = CANDIDATES,
    folds: int = 5,
    seeds: Sequence[int] = (0, 1, 2),
    held_out: str = "subtopic",
) -> dict[str, Any]:
    """Nested CV of select-then-fit, once per seed; mean and sd over seeds of `headline`."""
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        groups = held_out_groups(texts, labels, held_out, folds=folds, seed=seed)
        predictions: list[Prediction] = []
        gold: list[str] = []
        chosen: list[str] = []
        for train, test in _splits(labels, groups, folds, seed):
            sub_texts = [texts[i] for i in train]
            sub_labels = [labels[i] for i in train]
            candidate, _ = select_candidate(
                sub_texts, sub_labels, lexicon=lexicon, candidates=candidates, seed=seed, held_out=held_out
            )
            model = _fit_candidate(candidate, sub_texts, sub_labels, lexicon, seed)
            predictions.extend(model.predict(texts[i]) for i in test)
            gold.extend(labels[i] for i in test)
            chosen.append(candidate.name)
        runs.append({"seed": seed, "chosen": chosen, **headline(predictions, gold)})
    return {
        "folds": folds,
        "seeds": list(seeds),
        "held_out": held_out,
        "runs": runs,
        "summary": _mean_sd(runs),
    }


def _mean_sd(runs: Sequence[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    keys = ("accuracy", "macro_f1", "precision_at_half", "coverage_at_95")
    return {
        key: (
            statistics.fmean(r[key] for r in runs),
            statistics.pstdev(r[key] for r in runs) if len(runs) > 1 else 0.0,
        )
        for key in keys
    }


def learning_curve(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    lexicon: Lexicon = (),
    candidate: Candidate = CANDIDATES[0],
    fractions: Sequence[float] = LEARNING_FRACTIONS,
    folds: int = 5,
    seeds: Sequence[int] = (0,),
    held_out: str = "subtopic",
) -> list[dict[str, float]]:
    """Accuracy and macro-F1 (mean over seeds) when training on a share of each outer fold."""
    splits = {
        seed: _splits(labels, held_out_groups(texts, labels, held_out, folds=folds, seed=seed), folds, seed)
        for seed in seeds
    }
    points = []
    for fraction in fractions:
        results = []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            predictions: list[Prediction] = []
            gold: list[str] = []
            for train, test in splits[seed]:
                kept = _stratified_share(train, labels, fraction, rng)
                model = _fit_candidate(
                    candidate, [texts[i] for i in kept], [labels[i] for i in kept], lexicon, seed
                )
                predictions.extend(model.predict(texts[i]) for i in test)
                gold.extend(labels[i] for i in test)
            results.append(headline(predictions, gold))
        n_train = round(fraction * len(texts) * (folds - 1) / folds)
        points.append(
            {
                "fraction": fraction,
                "n_train": n_train,
                "accuracy": statistics.fmean(r["accuracy"] for r in results),
                "macro_f1": statistics.fmean(r["macro_f1"] for r in results),
            }
        )
    return points


def _stratified_share(rows: Any, labels: Sequence[str], fraction: float, rng: Any) -> list[int]:
    """About ``fraction`` of ``rows`` per label (at least two of each)."""
    kept: list[int] = []
    for label in sorted({labels[i] for i in rows}):
        mine = [int(i) for i in rows if labels[i] == label]
        take = max(2, round(fraction * len(mine)))
        kept.extend(rng.permutation(mine)[:take].tolist())
    return sorted(kept)
