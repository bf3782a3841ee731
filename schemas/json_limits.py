"""Bounded JSON decoding for untrusted input: poison gets a readable reason, never a crash.

Every parser of bytes that came from outside (a topic, an HTTP body, a file)
decodes through :func:`loads_limited` or :func:`parse_json_object`. They raise
only :class:`JsonLimitError` (a ``ValueError``) whose message says why, for
people: oversize (with the byte count), not UTF-8, not JSON (with the
position), nesting deeper than :data:`MAX_JSON_DEPTH`, a number literal
longer than :data:`MAX_NUMBER_CHARS`, or ``NaN``/``Infinity``.

Ordinary messages cost one ``str.count`` pass more than ``json.loads``: the
precise depth scan runs only when a document has more brackets than the depth
limit, and number literals are checked by the decoder's own hooks, which
receive the literal text before it is converted.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted; ZTC's own events need fewer than 8."""
MAX_NUMBER_CHARS = 40
"""Longest number literal accepted (sign, digits, fraction and exponent included)."""

_STRUCTURE = re.compile(r'["\\\[\]{}]')


class JsonLimitError(ValueError):
    """Input that is not acceptable JSON; the message is a one-line reason for people."""


def _encoded_size(raw: str) -> int:
    return len(raw.encode("utf-8", "surrogatepass"))


def _as_text(raw: bytes | str, max_bytes: int) -> str:
    if isinstance(raw, str):
        size = _encoded_size(raw)
        if size > max_bytes:
            raise JsonLimitError(f"oversize message: {size} bytes > {max_bytes}")
        return raw
    if len(raw) > max_bytes:
        raise JsonLimitError(f"oversize message: {len(raw)} bytes > {max_bytes}")
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = bytes(raw)[exc.start : exc.start + 1].hex()
        raise JsonLimitError(f"not JSON: not UTF-8 (byte 0x{bad} at position {exc.start})") from None


def _check_depth(text: str) -> None:
    """Raise if arrays/objects nest deeper than the limit; brackets inside strings do not count."""
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURE.finditer(text):
        char, at = match.group(), match.start()
        if in_string:
            if at == escaped_at:
                continue
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise JsonLimitError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels (at char {at})")
        elif char in "]}":
            depth -= 1


def _check_length(literal: str) -> None:
    if len(literal) > MAX_NUMBER_CHARS:
        raise JsonLimitError(
            f"number literal of {len(literal)} characters, longer than {MAX_NUMBER_CHARS} "
            f"(starts {literal[:12]}...)"
        )


def _parse_int(literal: str) -> int:
    _check_length(literal)
    return int(literal)


def _parse_float(literal: str) -> float:
    _check_length(literal)
    value = float(literal)
    if not math.isfinite(value):
        raise JsonLimitError(f"number {literal} is out of range")
    return value


def _parse_constant(name: str) -> Any:
    raise JsonLimitError(f"{name} is not a JSON number (NaN and Infinity are not accepted)")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _check_surrogates(document: Any) -> None:
    """A ``\\udXXX`` escape left unpaired decodes to a string no UTF-8 writer can encode."""
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise JsonLimitError(
                    f"a string holds a lone UTF-16 surrogate (U+{ord(value[exc.start]):04X})"
                ) from None
        elif isinstance(value, dict):
            stack += [*value.keys(), *value.values()]
        elif isinstance(value, list):
            stack += value


def loads_limited(raw: bytes | str, *, max_bytes: int) -> Any:
    """Decode untrusted JSON (UTF-8 bytes or text) within the limits; raise only JsonLimitError."""
    text = _as_text(raw, max_bytes)
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        _check_depth(text)
    try:
        document = json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
        if _SURROGATE_ESCAPE.search(text):  # rare: only then look at every string
            _check_surrogates(document)
        return document
    except JsonLimitError:
        raise
    except json.JSONDecodeError as exc:
        raise JsonLimitError(
            f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})"
        ) from None
    except RecursionError:  # unreachable after the depth scan; kept so that it can never escape
        raise JsonLimitError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, TypeError) as exc:
        raise JsonLimitError(f"not JSON: {exc}") from None


_NUMBERS_AND_SEPARATORS = bytes(
    0x30 if chr(b) in "0123456789+-." else 0x65 if chr(b) in "eE" else 0x3A if chr(b) in ":,[" else 0x78
    for b in range(256)
)
"""Digits, signs and points become ``0``, ``e``/``E`` ``e``, what a value follows (``:,[``) ``:``,
every other byte ``x``: the shape of the number literals, whitespace left out."""
_JSON_WHITESPACE = b" \t\r\n"
_LONG_NUMBER = b"0" * (MAX_NUMBER_CHARS + 1)
_EXPONENT_LITERAL = re.compile(rb":0+e")
_SURROGATE_ESCAPE_BYTES = re.compile(_SURROGATE_ESCAPE.pattern.encode())


def plainly_within_limits(raw: bytes, *, max_bytes: int) -> bool:
    """True only if :func:`loads_limited` could refuse ``raw`` for nothing but bad UTF-8 or JSON syntax.

    A cheap, conservative look at the bytes (a few passes in C), so that a caller may decode with a
    faster strict JSON parser (one that refuses bad UTF-8 and lone surrogates, as pydantic's does) and
    come back to ``loads_limited`` for the reason whenever that parser refuses. True means: within the
    size, and too few brackets to nest past the depth limit; no ``NaN``/``Infinity``; no ``\\u`` escape
    of a surrogate; no run of more than :data:`MAX_NUMBER_CHARS` characters a number literal is made
    of, and no literal with an exponent (within the length limit only those overflow, and a longer
    literal either has an ``e`` or is such a run). False says nothing about the document: text can
    hold such characters as well.
    """
    if len(raw) > max_bytes or raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH:
        return False
    if b"NaN" in raw or b"Infinity" in raw:
        return False
    if b"\\u" in raw and _SURROGATE_ESCAPE_BYTES.search(raw):
        return False
    shape = raw.translate(_NUMBERS_AND_SEPARATORS, _JSON_WHITESPACE)  # a literal starts right after ``:``
    return _LONG_NUMBER not in shape and _EXPONENT_LITERAL.search(shape) is None


def parse_json_object(raw: bytes | str, *, max_bytes: int) -> dict[str, Any]:
    """Like :func:`loads_limited`, for documents that must be one JSON object."""
    document = loads_limited(raw, max_bytes=max_bytes)
    if not isinstance(document, dict):
        raise JsonLimitError(f"not a JSON object but {type(document).__name__}")
    return document
