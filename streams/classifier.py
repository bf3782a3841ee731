"""Ticket text classifier: the router's hot-path predictor and its on-disk format.

A trained model is a linear scorer over character n-gram features (see
`streams.classifier_features`) followed by a temperature-scaled softmax, so its
confidence can be thresholded. Prediction applies the weights directly (the
text's n-grams packed into integer keys, one sorted-array lookup, one small
matrix product: about 30 numpy calls in all), which is over 20 times faster than
a scikit-learn pipeline per text, and never imports scikit-learn.

The model file is plain JSON (format ``ztc-text-classifier``, version 1):
loading it never executes code. Anything wrong with the file raises
`ModelLoadError` with a one-line message naming the path.

Training and cross-validation live in `streams.classifier_train` (scikit-learn,
the ``ztc[train]`` extra), evaluation and CSV reading in `streams.classifier_eval`;
both import this module, never the other way round.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.classifier_features import (
    KEY_BITS,
    MAX_KEYED_N,
    TITLE_SEPARATOR,
    NormaliseOptions,
    block_texts,
    char_ngrams,
    collapse_space,
    fold,
    gram_key,
    mask,
    maskable_table,
    normalise,
)

FORMAT_NAME = "ztc-text-classifier"
FORMAT_VERSION = 1
BLOCK_NAMES = ("title", "text")
_TITLE_TAG = np.uint64(1 << 63)  # above any 3-character key (3 x 21 bits)
_SENTINELS = np.array([(1 << 64) - 1], dtype=np.uint64)  # above every key, tagged or not
_FIRST = np.zeros(1, dtype=np.uint64)  # below every key
_SHIFT = np.uint64(KEY_BITS)
_LOG_TF = 1.0 + np.log(np.arange(1, 4097, dtype=np.float64))  # sublinear tf, 1 + ln(count)
_LOG_TF = np.concatenate([[0.0], _LOG_TF])  # indexed by the count itself
_MASKABLE = maskable_table()
_MAX = np.maximum.reduce
_SUM = np.add.reduce

FloatArray = npt.NDArray[np.float64]


UNVERSIONED = "unversioned"
"""The version of a model file written before models carried one."""
MAX_VERSION_CHARS = 64


class ModelLoadError(ValueError):
    """A model file is missing, corrupt, of another format/version, or not a model."""


@dataclass(frozen=True)
class ModelIdentity:
    """Which model decided: the version its training gave it and the SHA-256 of its file's bytes.

    The hash is of the bytes as written (what is deployed is what is hashed), so two files with
    the same version but different weights never pass for one another."""

    version: str
    sha256: str

    @property
    def short(self) -> str:
        return f"{self.version}@{self.sha256[:12]}"


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    probabilities: dict[str, float]  # sorted by probability, highest first


@dataclass(frozen=True)
class _Block:
    low: int
    high: int
    scale: float
    vocab: dict[str, int]  # gram -> row
    keys: npt.NDArray[np.uint64]  # sorted `gram_key`s; rows are in this order
    idf: FloatArray  # (vocabulary size,)
    coef: FloatArray  # (vocabulary size, number of labels)


class TextClassifier:
    """A trained classifier. Build with `streams.classifier_train.fit` or `TextClassifier.load`."""

    def __init__(self, payload: Mapping[str, Any], sha256: str | None = None) -> None:
        """Build from a validated model payload (see `_validate`); raises ValueError.

        ``sha256``: of the bytes the payload was read from (``from_bytes``); else of ``to_bytes()``."""
        _validate(payload)
        self._payload: dict[str, Any] = dict(payload)
        self._sha256 = sha256
        self.labels: tuple[str, ...] = tuple(payload["labels"])
        self._options = NormaliseOptions.from_dict(payload["normalise"])
        self._intercept: FloatArray = np.asarray(payload["intercept"], dtype=np.float64)
        self._inv_temperature = 1.0 / float(payload["calibration"]["temperature"])
        self._blocks = tuple(_make_block(raw, len(self.labels)) for raw in payload["blocks"])
        title, text = self._blocks
        self._low, self._high = text.low, text.high
        # Merged lookup arrays, text rows first, then title rows.
        keys = np.concatenate([text.keys, title.keys | _TITLE_TAG])
        idf = np.concatenate([text.idf, title.idf])
        coef = np.vstack([text.coef, title.coef])
        self._title_scale = title.scale
        # Each key followed by key + 1: ``searchsorted(side="right")`` lands at 2 × row + 1 (odd) on the
        # key of a row and at an even position (up to 2 × rows, past the last key) on any other gram,
        # where ``_idf_at`` holds 0.0 and ``_coef_at`` a row of zeros (0.0 × anything adds nothing).
        self._gapped_keys = np.stack([keys, keys + np.uint64(1)], axis=1).ravel()
        self._idf_at = np.append(np.stack([np.zeros_like(idf), idf], axis=1).ravel(), 0.0)
        self._coef_at = np.zeros((2 * len(keys) + 1, len(self.labels)))
        self._coef_at[1::2] = coef

    @property
    def identity(self) -> ModelIdentity:
        """The model's version and content hash (stamped on every routing decision it makes)."""
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.to_bytes()).hexdigest()
        return ModelIdentity(str(self._payload.get("version", UNVERSIONED)), self._sha256)

    @property
    def metadata(self) -> dict[str, Any]:
        """Training metadata stored in the model (data size, config, CV scores...)."""
        return dict(self._payload.get("training", {}))

    # -- prediction (hot path) -------------------------------------------------
    def scores(self, text: str, folded: str | None = None) -> FloatArray:
        """Raw linear scores, one per label (before calibration).

        Both blocks are looked up at once: the title's grams are a prefix of the
        whole text's, so their keys are slices of the same arrays, tagged with
        `_TITLE_TAG`; in the sorted key arrays (the model's and the text's) the
        text block's rows therefore come first. Each numpy call costs about a
        microsecond whatever its size, so the code keeps the number of calls low
        (and gathers with `take`, several times faster than fancy indexing).

        ``folded``, when given, is ``text`` NFKC-normalised and lower-cased (routing has it already):
        a model whose normalisation starts with those two steps goes on from it.
        """
        whole, points = self._normalised(text, folded)
        low, high = self._low, self._high
        if len(whole) < low:
            return self._intercept.copy()
        cut = whole.find(TITLE_SEPARATOR)  # the title is whole[:cut] when cut > 0
        packed: npt.NDArray[Any] = points  # uint32 unigrams; longer grams are uint64
        text_parts = []
        title_parts = []
        for n in range(1, high + 1):
            if n > 1:
                packed = np.left_shift(packed[:-1], _SHIFT, dtype=np.uint64) | points[n - 1 :]
            if n >= low:
                text_parts.append(packed)
                if cut >= n:
                    title_parts.append(packed[: cut - n + 1])
        # a sentinel before the grams (0: no gram, as NUL is white space) and one after (above all): in
        # sorted order every gram's last occurrence differs from its next, and so does the first sentinel
        keys = np.concatenate([_FIRST, *text_parts, *title_parts, _SENTINELS], dtype=np.uint64)
        keys[1 + sum(map(len, text_parts)) :] |= _TITLE_TAG  # the last sentinel stays the sentinel
        keys.sort()
        ends = (keys[1:] != keys[:-1]).nonzero()[0]  # 0 (the first sentinel), then each gram's last place
        grams = keys.take(ends[1:])
        counts = ends[1:] - ends[:-1]  # run lengths
        at = self._gapped_keys.searchsorted(grams, side="right")  # 2 × row + 1 on a vocabulary gram
        values = _LOG_TF.take(counts) if len(keys) - 1 <= len(_LOG_TF) else np.log(counts) + 1.0
        values *= self._idf_at.take(at)  # grams outside the vocabulary weigh nothing
        split = int(grams.searchsorted(_TITLE_TAG))
        text_values, title_values = values[:split], values[split:]
        text_square = float(text_values @ text_values)
        title_square = float(title_values @ title_values)
        if text_square > 0.0:
            text_values *= 1.0 / math.sqrt(text_square)
        if title_square > 0.0:
            title_values *= self._title_scale / math.sqrt(title_square)
        total: FloatArray = values @ self._coef_at.take(at, axis=0)
        total += self._intercept
        return total

    def _normalised(self, text: str, folded: str | None) -> tuple[str, npt.NDArray[np.uint32]]:
        """``normalise(text)`` and its code points; masking is skipped when no character can change."""
        options = self._options
        if folded is None or not (options.nfkc and options.lower):
            folded = fold(text, options)
        whole = collapse_space(folded)
        points = np.frombuffer(whole.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        maskable = options.mask_codes or options.mask_digits
        if maskable and np.count_nonzero(_MASKABLE.take(points, mode="clip")):
            whole = mask(whole, options)
            points = np.frombuffer(whole.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        return whole, points

    def label_probabilities(self, text: str, folded: str | None = None) -> list[float]:
        """Calibrated probability per label, in ``labels`` order (what `predict_proba` sorts).

        ``folded``: ``text`` NFKC-normalised and lower-cased, if the caller has it (see `scores`)."""
        shifted = self.scores(text, folded)  # one numpy call per step: cheaper than 19 math.exp calls
        shifted -= _MAX(shifted)  # the ufuncs' reductions, without ndarray.max/sum's Python wrappers
        shifted *= self._inv_temperature
        np.exp(shifted, out=shifted)
        shifted *= 1.0 / _SUM(shifted)
        probabilities: list[float] = shifted.tolist()
        return probabilities

    def predict_proba(self, text: str) -> dict[str, float]:
        """Calibrated probability per label, sorted highest first."""
        weights, norm = self._softmax_weights(text)
        order = sorted(range(len(weights)), key=weights.__getitem__, reverse=True)
        return {self.labels[i]: weights[i] * norm for i in order}

    def _softmax_weights(self, text: str) -> tuple[list[float], float]:
        """exp((score - top score) / temperature) per label, and 1 / their sum."""
        scores = self.scores(text).tolist()
        top = max(scores)
        inverse, exp = self._inv_temperature, math.exp
        weights = [exp((z - top) * inverse) for z in scores]
        return weights, 1.0 / sum(weights)

    def predict(self, text: str) -> Prediction:
        probabilities = self.predict_proba(text)
        label = next(iter(probabilities))
        return Prediction(label, probabilities[label], probabilities)

    def explain(self, text: str, label: str, top_k: int = 8) -> list[tuple[str, float]]:
        """The n-grams of ``text`` that add most to ``label``'s score, largest first.

        N-grams are in normalised form (digits as "0", anonymised codes as "§");
        a gram found in both the title and the whole text gets both contributions.
        """
        try:
            column = self.labels.index(label)
        except ValueError:
            raise KeyError(f"unknown label {label!r}; labels are {list(self.labels)}") from None
        contributions: dict[str, float] = {}
        for block, part in zip(self._blocks, block_texts(normalise(text, self._options)), strict=True):
            counts = Counter(g for g in char_ngrams(part, block.low, block.high) if g in block.vocab)
            values = {g: _log_tf(c) * float(block.idf[block.vocab[g]]) for g, c in counts.items()}
            norm = math.sqrt(math.fsum(v * v for v in values.values())) or 1.0
            for gram, value in values.items():
                weight = float(block.coef[block.vocab[gram], column])
                contributions[gram] = contributions.get(gram, 0.0) + value * weight * block.scale / norm
        ranked = sorted(contributions.items(), key=lambda item: (-item[1], item[0]))
        return [(gram, score) for gram, score in ranked[:top_k] if score > 0.0]

    # -- persistence ------------------------------------------------------------
    def to_payload(self) -> dict[str, Any]:
        return dict(self._payload)

    def to_bytes(self) -> bytes:
        """The model file's bytes, as `save` writes them."""
        text = json.dumps(self._payload, ensure_ascii=False, separators=(",", ":"))
        return (text + "\n").encode("utf-8")

    def save(self, path: Path) -> None:
        """Write the model as JSON (atomically: a temporary file, then rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> TextClassifier:
        """Read a model written by `save`; raises `ModelLoadError` on any problem."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ModelLoadError(f"{path}: model file not found") from None
        except OSError as exc:
            raise ModelLoadError(f"{path}: cannot read model file ({exc})") from None
        return cls.from_bytes(raw, str(path))

    @classmethod
    def from_bytes(cls, raw: bytes, source: str) -> TextClassifier:
        """A model from a file's bytes (``source`` names it in errors); raises `ModelLoadError`."""
        path = source
        try:
            payload = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ModelLoadError(f"{path}: cannot read model file ({exc})") from None
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
            raise ModelLoadError(f"{path}: not a {FORMAT_NAME} model file")
        version = payload.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelLoadError(
                f"{path}: unsupported model format version {version!r} (expected {FORMAT_VERSION})"
            )
        try:
            return cls(payload, hashlib.sha256(raw).hexdigest())
        except (ValueError, TypeError, KeyError) as exc:
            raise ModelLoadError(f"{path}: invalid model ({exc})") from None


def _log_tf(count: int) -> float:
    return 1.0 + math.log(count) if count > 0 else 0.0


def _make_block(raw: Mapping[str, Any], n_labels: int) -> _Block:
    grams: list[str] = raw["vocab"]
    keys = np.array([gram_key(g) for g in grams], dtype=np.uint64)
    order = np.argsort(keys, kind="stable")
    coef = np.asarray(raw["coef"], dtype=np.float64).reshape(len(grams), n_labels)[order]
    idf = np.asarray(raw["idf"], dtype=np.float64)[order]
    vocab = {grams[int(i)]: row for row, i in enumerate(order)}
    keys = keys[order]
    if not keys.size:  # keep the lookup well-defined: one dead row (key 0 never occurs)
        keys, idf, coef = np.zeros(1, np.uint64), np.zeros(1), np.zeros((1, coef.shape[1]))
    low, high = raw["ngram"]
    return _Block(int(low), int(high), float(raw["scale"]), vocab, keys, idf, coef)


def _validate(payload: Mapping[str, Any]) -> None:
    """Check the payload's structure; raise ValueError naming the first problem."""
    if payload.get("format") != FORMAT_NAME or payload.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"not a {FORMAT_NAME} v{FORMAT_VERSION} payload")
    labels = payload.get("labels")
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
        raise ValueError("'labels' must be a list of at least two strings")
    if len(set(labels)) != len(labels):
        raise ValueError("'labels' has duplicates")
    version = payload.get("version", UNVERSIONED)
    if not isinstance(version, str) or not 0 < len(version) <= MAX_VERSION_CHARS or not version.isprintable():
        raise ValueError(f"'version' must be a printable string of 1-{MAX_VERSION_CHARS} characters")
    if not isinstance(payload.get("normalise"), dict):
        raise ValueError("'normalise' must be an object")
    _check_numbers(payload.get("intercept"), len(labels), "intercept")
    calibration = payload.get("calibration")
    if not isinstance(calibration, dict) or calibration.get("method") != "temperature":
        raise ValueError("'calibration' must be {'method': 'temperature', ...}")
    temperature = calibration.get("temperature")
    if not isinstance(temperature, int | float) or not 0.0 < temperature < 1e6:
        raise ValueError("'calibration.temperature' must be a positive number")
    blocks = payload.get("blocks")
    if not isinstance(blocks, list) or len(blocks) != len(BLOCK_NAMES):
        raise ValueError(f"'blocks' must be a list of {len(BLOCK_NAMES)} feature blocks")
    for name, block in zip(BLOCK_NAMES, blocks, strict=True):
        _validate_block(block, name, len(labels))
    if blocks[0]["ngram"] != blocks[1]["ngram"]:
        raise ValueError("both feature blocks must use the same n-gram range")


def _validate_block(block: Any, name: str, n_labels: int) -> None:
    if not isinstance(block, dict) or block.get("name") != name:
        raise ValueError(f"feature block {name!r} missing")
    ngram = block.get("ngram")
    if not (isinstance(ngram, list) and len(ngram) == 2 and all(isinstance(n, int) for n in ngram)):
        raise ValueError(f"block {name!r}: 'ngram' must be [low, high]")
    if not 1 <= ngram[0] <= ngram[1] <= MAX_KEYED_N:
        raise ValueError(f"block {name!r}: bad n-gram range {ngram}")
    vocab = block.get("vocab")
    if not isinstance(vocab, list) or not all(isinstance(g, str) for g in vocab):
        raise ValueError(f"block {name!r}: 'vocab' must be a list of strings")
    if len(set(vocab)) != len(vocab):
        raise ValueError(f"block {name!r}: 'vocab' has duplicates")
    _check_numbers(block.get("idf"), len(vocab), f"{name}.idf")
    _check_numbers(block.get("coef"), len(vocab) * n_labels, f"{name}.coef")
    _check_numbers([block.get("scale")], 1, f"{name}.scale")


def _check_numbers(values: Any, size: int, what: str) -> None:
    if not isinstance(values, Sequence) or len(values) != size:
        raise ValueError(f"'{what}' must be a list of {size} numbers")
    # type() by type(), not isinstance: a bool is an int to isinstance; C-level loops, as a model
    # holds tens of thousands of numbers and the router checks them at every start.
    if not set(map(type, values)) <= {int, float} or not np.isfinite(np.asarray(values, np.float64)).all():
        raise ValueError(f"'{what}' holds a non-number or non-finite value")
