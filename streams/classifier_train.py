"""Training for `streams.classifier` — needs the ``ztc[train]`` extra.

scikit-learn and scipy are imported at the top of this module and nowhere on
the runtime path: the router, the recorder, ``ztc route`` and prediction load
``streams.classifier`` only, which never imports this module. Training:

1. normalise texts, build two tf-idf blocks of character n-grams (title, whole
   text) with sublinear tf, the title block scaled by ``title_weight``;
2. optional lexicon pseudo-documents (e.g. taxonomy category names) are added
   as extra training rows with their own sample weight. With ``lexicon_boost``
   the idf of each n-gram that is a whole lexicon word (a two-character word
   such as "噪音" or "社保" for character 1-2-grams; words of any lexicon row,
   trained label or not) is multiplied by it, so the words the categories are
   known by weigh more than incidental character pairs. The model stores the
   boosted idf, so prediction is unchanged;
3. fit an NB-SVM (one-vs-rest class-balanced LinearSVCs on features scaled by
   each class's naive-Bayes log-count ratios, Wang & Manning 2012) and a
   ComplementNB, standardise each one's scores and average them into ONE linear
   scorer (coefficients + intercepts). An NB-SVM column is ``r_k * w_k`` over the
   unscaled features, so the mix stays a single matrix;
4. fit a softmax temperature on out-of-fold scores (inner stratified CV), so
   the confidence is calibrated and can be thresholded by the router.

Cross-validation (held-out subtopics, nested selection, the learning curve) is in
`streams.classifier_select`; scoring predictions and reading CSVs in `streams.classifier_eval`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

from streams.classifier import FORMAT_NAME, FORMAT_VERSION, FloatArray, TextClassifier
from streams.classifier_features import TITLE_SEPARATOR, NormaliseOptions, block_texts, char_ngrams, normalise


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters (chosen by cross-validation on the tipdm training file)."""

    ngram: tuple[int, int] = (1, 2)
    min_df: int = 2
    title_weight: float = 0.7
    lexicon_weight: float = 1.0
    lexicon_boost: float = 1.0  # idf multiplier of n-grams that are whole lexicon words
    svc_c: float = 1.0  # C of the NB-SVM's LinearSVCs
    nbsvm_alpha: float = 1.0  # smoothing of the NB-SVM's log-count ratios
    nb_alpha: float = 0.1  # ComplementNB smoothing
    mix: tuple[float, float] = (0.5, 0.5)  # (NB-SVM, ComplementNB) weights
    calibration_folds: int = 5
    normalise: NormaliseOptions = field(default_factory=NormaliseOptions)


def fit(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    seed: int = 0,
    lexicon: Sequence[tuple[str, str]] = (),
    config: TrainConfig = TrainConfig(),
    version: str | None = None,
) -> TextClassifier:
    """Train a `TextClassifier` (see the module docstring); ``version`` names it in every decision."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError("training needs at least two distinct labels")
    extra = [(t, lab) for t, lab in lexicon if lab in set(classes)]
    all_texts = list(texts) + [t for t, _ in extra]
    y = np.array([classes.index(lab) for lab in list(labels) + [lab for _, lab in extra]])
    weights = np.array([1.0] * len(texts) + [config.lexicon_weight] * len(extra))
    parts = [block_texts(normalise(t, config.normalise)) for t in all_texts]
    words = lexicon_words([t for t, _ in lexicon], config)
    temperature = _fit_temperature(parts, y, weights, len(texts), config, seed, words)
    blocks, coef, intercept = _fit_linear(parts, y, weights, len(classes), config, seed, words)
    payload: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **({"version": version} if version is not None else {}),
        "labels": classes,
        "normalise": config.normalise.to_dict(),
        "blocks": [],
        "intercept": [_round(v) for v in intercept],
        "calibration": {"method": "temperature", "temperature": _round(temperature)},
        "training": {
            "n_texts": len(texts),
            "n_lexicon": len(extra),
            "label_counts": dict(sorted(Counter(labels).items())),
            "seed": seed,
            "config": {k: v for k, v in asdict(config).items() if k != "normalise"},
        },
    }
    offset = 0
    for name, (vocab, idf, scale) in zip(("title", "text"), blocks, strict=True):
        rows = coef[offset : offset + len(vocab)]
        offset += len(vocab)
        payload["blocks"].append(
            {
                "name": name,
                "ngram": list(config.ngram),
                "scale": scale,
                "vocab": vocab,
                "idf": [_round(v) for v in idf],
                "coef": [_round(v) for v in rows.ravel().tolist()],
            }
        )
    return TextClassifier(payload)


def lexicon_words(pseudo_documents: Sequence[str], config: TrainConfig) -> frozenset[str]:
    """The words of the lexicon pseudo-documents that are n-grams the model has (none without a boost).

    Words are separated by white space or "。" and normalised like any text.
    """
    if config.lexicon_boost == 1.0:
        return frozenset()
    low, high = config.ngram
    spaced = (doc.replace(TITLE_SEPARATOR, " ") for doc in pseudo_documents)
    words = (normalise(w, config.normalise) for doc in spaced for w in doc.split())
    return frozenset(w for w in words if low <= len(w) <= high and len(w) >= 2)


def _round(value: float) -> float:
    return float(f"{value:.6g}")


Parts = list[tuple[str, str]]
Blocks = list[tuple[list[str], list[float], float]]


def _fit_linear(
    parts: Parts,
    y: Any,
    weights: Any,
    n_classes: int,
    config: TrainConfig,
    seed: int,
    words: frozenset[str] = frozenset(),
) -> tuple[Blocks, FloatArray, FloatArray]:
    """Vectorise, fit the two linear models and mix them into one (coef F×K, intercept K)."""
    blocks: Blocks = []
    for index, scale in ((0, config.title_weight), (1, 1.0)):
        vocab, idf = _fit_vocabulary([p[index] for p in parts], config, words)
        blocks.append((vocab, idf, scale))
    matrix = _matrix(parts, blocks, config)
    nb = ComplementNB(alpha=config.nb_alpha)
    nb.fit(matrix, y, sample_weight=weights)
    pieces = [
        _fit_nbsvm(matrix, y, weights, n_classes, config, seed),
        (np.asarray(nb.feature_log_prob_).T, np.zeros(n_classes)),
    ]
    coef = np.zeros((matrix.shape[1], n_classes))
    intercept = np.zeros(n_classes)
    for mix, (w, b) in zip(config.mix, pieces, strict=True):
        scores = np.asarray(matrix @ w) + b
        spread = float(np.std(scores - scores.mean(axis=1, keepdims=True))) or 1.0
        coef += (mix / spread) * w
        intercept += (mix / spread) * b
    return blocks, coef, intercept


def _fit_nbsvm(
    matrix: Any, y: Any, weights: Any, n_classes: int, config: TrainConfig, seed: int
) -> tuple[FloatArray, FloatArray]:
    """NB-SVM: per class, a LinearSVC on features scaled by naive-Bayes log-count ratios.

    The ratios compare how (sample-weighted) often each feature occurs at all in
    the class vs the rest; the class's score is ``(r * w) . x + b``: linear in x.
    """
    present = matrix.copy()
    present.data[:] = 1.0
    coef = np.zeros((matrix.shape[1], n_classes))
    intercept = np.zeros(n_classes)
    for k in range(n_classes):
        mine = y == k
        inside = np.asarray(present[mine].T @ weights[mine]).ravel() + config.nbsvm_alpha
        outside = np.asarray(present[~mine].T @ weights[~mine]).ravel() + config.nbsvm_alpha
        ratio = np.log(inside / inside.sum()) - np.log(outside / outside.sum())
        svc = LinearSVC(C=config.svc_c, class_weight="balanced", random_state=seed)
        svc.fit(matrix.multiply(ratio).tocsr(), mine.astype(int), sample_weight=weights)
        coef[:, k] = np.asarray(svc.coef_).ravel() * ratio
        intercept[k] = float(svc.intercept_[0])
    return coef, intercept


def _fit_vocabulary(
    docs: list[str], config: TrainConfig, words: frozenset[str] = frozenset()
) -> tuple[list[str], list[float]]:
    low, high = config.ngram
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(set(char_ngrams(doc, low, high)))
    vocab = sorted(g for g, n in df.items() if n >= config.min_df)
    if not vocab:  # tiny data sets: fall back to every gram rather than no features
        vocab = sorted(df)
    total = len(docs)
    idf = [math.log((1 + total) / (1 + df[g])) + 1.0 for g in vocab]
    return vocab, [v * config.lexicon_boost if g in words else v for g, v in zip(vocab, idf, strict=True)]


def _matrix(parts: Parts, blocks: Blocks, config: TrainConfig) -> Any:
    """CSR matrix of the concatenated, L2-normalised, scaled tf-idf blocks."""
    low, high = config.ngram
    indices: list[int] = []
    values: list[float] = []
    indptr = [0]
    lookups = [({g: i for i, g in enumerate(vocab)}, idf, scale) for vocab, idf, scale in blocks]
    for doc_parts in parts:
        offset = 0
        for part, (lookup, idf, scale) in zip(doc_parts, lookups, strict=True):
            counts = Counter(char_ngrams(part, low, high))
            row = [(lookup[g], (1 + math.log(c)) * idf[lookup[g]]) for g, c in counts.items() if g in lookup]
            norm = math.sqrt(math.fsum(v * v for _, v in row)) or 1.0
            indices.extend(offset + i for i, _ in row)
            values.extend(v * scale / norm for _, v in row)
            offset += len(lookup)
        indptr.append(len(indices))
    width = sum(len(vocab) for vocab, _, _ in blocks)
    return csr_matrix((values, indices, indptr), shape=(len(parts), width))


def _fit_temperature(
    parts: Parts,
    y: Any,
    weights: Any,
    n_real: int,
    config: TrainConfig,
    seed: int,
    words: frozenset[str] = frozenset(),
) -> float:
    """Temperature minimising the log-loss of inner out-of-fold scores (1.0 if too few rows)."""
    real_y = y[:n_real]
    folds = min(config.calibration_folds, int(np.bincount(real_y).min()))
    if folds < 2:
        return 1.0
    n_classes = int(y.max()) + 1
    scores = np.zeros((n_real, n_classes))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    extra = np.arange(n_real, len(parts))
    for train, test in splitter.split(np.zeros(n_real), real_y):
        idx = np.concatenate([train, extra])
        sub = [parts[i] for i in idx]
        blocks, coef, intercept = _fit_linear(sub, y[idx], weights[idx], n_classes, config, seed, words)
        scores[test] = np.asarray(_matrix([parts[i] for i in test], blocks, config) @ coef) + intercept
    return _best_temperature(scores, real_y)


def _best_temperature(scores: FloatArray, y: Any) -> float:
    def loss(temperature: float) -> float:
        z = scores / temperature
        z = z - z.max(axis=1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(y)), y].mean())

    grid = np.exp(np.linspace(math.log(0.01), math.log(100.0), 400))
    return float(min(grid, key=loss))
