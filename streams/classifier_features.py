"""Text normalisation and character n-gram features for the ticket classifier.

Pure functions shared by training (`streams.classifier_train`) and prediction
(`streams.classifier`): they must agree exactly, so both sides call the code
here. No scikit-learn: prediction imports this on the hot path.

For speed, prediction does not look n-gram strings up in a dict; it packs each
n-gram's code points into one integer (`gram_key`, `ngram_keys`: 21 bits per
character, up to 3 characters) and finds them in a sorted key array with
numpy. NUL characters are removed by `normalise` so every key is unique.
`nfkc` is an exact, table-driven replacement for `unicodedata.normalize("NFKC")`,
which alone used to cost a third of a prediction on Chinese text.

A message is "title。body". Two feature blocks are extracted from it:

* ``title``: character n-grams of the title (the text before the first "。"),
* ``text``: character n-grams of the whole normalised text.

Each block is weighted like scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``
(``(1 + ln tf) * idf``, then L2-normalised within the block).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cache
from operator import add

import numpy as np
import numpy.typing as npt

TITLE_SEPARATOR = "。"
CODE_MASK = "§"
MAX_KEYED_N = 3  # n-grams up to this length can be packed into a uint64 key
KEY_BITS = 21  # bits per character in a packed n-gram key
_BITS = KEY_BITS
_EXCEL_CR = "_x000d_"  # carriage returns exported by Excel, seen in the tipdm data
_LATIN = re.compile(r"[a-z]")
# Anonymised places and codes: "A市", "A3区", "K7县", "c4" → "§市", "§区", "§县", "§".
# Same as r"(?<![a-z])[a-z]\d*(?![a-z0-9])", but starting with the character class
# lets the regex engine skip ahead to candidate letters (about 2.5x faster).
_CODE = re.compile(r"[a-z](?<![a-z][a-z])\d*(?![a-z0-9])")
_DIGITS = re.compile(r"\d\d*")  # = r"\d+"; a leading class lets the engine skip to digits (2x faster)


@dataclass(frozen=True)
class NormaliseOptions:
    """How raw text is normalised before n-grams are taken (stored in the model)."""

    nfkc: bool = True
    lower: bool = True
    mask_codes: bool = True
    mask_digits: bool = True

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> NormaliseOptions:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown normalisation options {sorted(unknown)}")
        values = {key: value for key, value in data.items()}
        for key, value in values.items():
            if not isinstance(value, bool):
                raise ValueError(f"normalisation option {key!r} must be true/false")
        return cls(**values)  # type: ignore[arg-type]


def normalise(text: str, options: NormaliseOptions = NormaliseOptions()) -> str:
    """NFKC, lower-case, collapse white space, mask anonymised codes and digits.

    The Excel artefact "_x000D_" counts as white space (only once lower-cased).
    """
    return mask(collapse_space(fold(text, options)), options)


def fold(text: str, options: NormaliseOptions = NormaliseOptions()) -> str:
    """``normalise``'s first steps: NFKC and lower-case (as ``options`` say)."""
    if options.nfkc and not unicodedata.is_normalized("NFKC", text):
        text = nfkc(text)
    return text.lower() if options.lower else text


def collapse_space(text: str) -> str:
    """``normalise``'s third step: white space runs ("_x000d_", NUL too) become one space, none at ends."""
    return " ".join(text.replace(_EXCEL_CR, " ").replace("\x00", " ").split())


def mask(text: str, options: NormaliseOptions) -> str:
    """``normalise``'s last steps: anonymised codes to "§", runs of digits to "0" (as ``options`` say).

    It changes only a text with a character of ``maskable_table()``."""
    if options.mask_codes and _LATIN.search(text):
        text = _CODE.sub(CODE_MASK, text)
    if options.mask_digits:
        text = _DIGITS.sub("0", text)
    return text


@cache
def maskable_table() -> npt.NDArray[np.bool_]:
    """BMP code point -> whether ``mask`` may change a text with it: a-z (``_LATIN``, where every code
    starts) or a decimal digit (what ``\\d`` matches in a str pattern). One extra last entry, True, is
    reached by every code point above the BMP (``mode="clip"``): those texts are always masked."""
    table = np.zeros(0x10001, dtype=np.bool_)
    table[ord("a") : ord("z") + 1] = True
    table[[point for point in range(0x10000) if chr(point).isdecimal()]] = True
    table[0x10000] = True
    return table


def nfkc(text: str) -> str:
    """Exactly ``unicodedata.normalize("NFKC", text)``, several times faster on Chinese text.

    Chinese messages are rarely NFKC-normalised (full-width "，" "：" "（" ...), and
    `unicodedata.normalize` costs ~50 µs per 230 characters. Here every BMP
    character with a one-character NFKC form is mapped through a lookup table in
    one numpy gather (`char_nfkc`). That is the answer when the result is normalised: NFKC of a
    string equals NFKC of the string with each character replaced by its own NFKC
    form. Otherwise (characters with longer forms, combining sequences, characters
    outside the BMP, which the table maps to an unnormalised marker) the text goes
    through `unicodedata.normalize`.
    """
    mapped = char_nfkc(text)
    return unicodedata.normalize("NFKC", text) if mapped is None else mapped


def char_nfkc(text: str) -> str | None:
    """NFKC of ``text`` when the lookup table gives it (see `nfkc`), else None.

    When it is not None, its character i is the NFKC form of ``text``'s character i (same length)."""
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    mapped = _nfkc_table().take(points, mode="clip").tobytes().decode("utf-32-le", "surrogatepass")
    return mapped if unicodedata.is_normalized("NFKC", mapped) else None


@cache
def _nfkc_table() -> npt.NDArray[np.uint32]:
    """BMP code point -> its one-character NFKC form (identity otherwise); ~50 ms once.

    One extra last entry, reached by every code point above the BMP (``mode="clip"``),
    holds U+FB01 "ﬁ", which is not NFKC-normalised: it sends such texts to the slow path.
    """
    table = np.arange(0x10001, dtype=np.uint32)
    table[0x10000] = 0xFB01
    for point in range(0x10000):
        char = chr(point)
        if 0xD800 <= point <= 0xDFFF or unicodedata.is_normalized("NFKC", char):
            continue
        form = unicodedata.normalize("NFKC", char)
        if len(form) == 1:
            table[point] = ord(form)
    return table


def title_of(normalised: str) -> str:
    """The title: text before the first "。" (empty when there is none)."""
    cut = normalised.find(TITLE_SEPARATOR)
    return normalised[:cut] if cut > 0 else ""


def char_ngrams(text: str, low: int, high: int) -> list[str]:
    """All character n-grams of ``text`` with ``low <= n <= high`` (n = low first).

    Built by pairwise string concatenation in C (``map(add, ...)``), which is
    several times faster than slicing in a Python loop.
    """
    grams = list(text)
    found = grams.copy() if low <= 1 else []
    for n in range(2, high + 1):
        grams = list(map(add, grams, text[n - 1 :]))
        if n >= low:
            found.extend(grams)
    return found


def block_texts(normalised: str) -> tuple[str, str]:
    """The (title, whole text) pair that the two feature blocks are built from."""
    return title_of(normalised), normalised


def ngram_counts(text: str, low: int, high: int) -> Counter[str]:
    """Term counts of the character n-grams of ``text``."""
    return Counter(char_ngrams(text, low, high))


def gram_key(gram: str) -> int:
    """The integer key of an n-gram (n <= 3): its code points, 21 bits each."""
    key = 0
    for char in gram:
        key = (key << _BITS) | ord(char)
    return key


def ngram_keys(text: str, low: int, high: int) -> npt.NDArray[np.uint64]:
    """`gram_key` of every n-gram of ``text`` (``low <= n <= high <= 3``), vectorised."""
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    parts = [points] if low <= 1 else []
    packed = points
    for n in range(2, high + 1):
        packed = (packed[:-1] << np.uint64(_BITS)) | points[n - 1 :]
        if n >= low:
            parts.append(packed)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]
