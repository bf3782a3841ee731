"""Bounded JSON decoding: every poison becomes a JsonLimitError with a readable reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import json_limits
from schemas.json_limits import (
    MAX_JSON_DEPTH,
    MAX_NUMBER_CHARS,
    JsonLimitError,
    loads_limited,
    parse_json_object,
    plainly_within_limits,
)

LIMIT = 64 * 1024
FAST = settings(max_examples=200, deadline=None)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_an_ordinary_message_decodes_like_json_loads() -> None:
    raw = json.dumps({"title": "营业执照", "n": [1, 2.5, -3e2, None, True], "o": {"a": "[{"}}).encode()
    assert loads_limited(raw, max_bytes=LIMIT) == json.loads(raw)
    assert loads_limited(raw.decode(), max_bytes=LIMIT) == json.loads(raw)


def test_an_ordinary_message_skips_the_depth_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(text: str) -> None:
        raise AssertionError("depth scan run for an ordinary message")

    monkeypatch.setattr(json_limits, "_check_depth", fail)
    assert loads_limited(b'{"a": [1, {"b": [2]}], "c": "x"}', max_bytes=LIMIT)["c"] == "x"


@pytest.mark.parametrize("document", ["[" * 100_000, '{"a":' * 100_000, nested(MAX_JSON_DEPTH + 1)])
def test_deep_nesting_is_refused_without_recursion_error(document: str) -> None:
    with pytest.raises(JsonLimitError, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
        loads_limited(document, max_bytes=10**6)


def test_nesting_up_to_the_limit_is_fine() -> None:
    assert loads_limited(nested(MAX_JSON_DEPTH), max_bytes=LIMIT) is not None


@pytest.mark.parametrize(
    "document",
    [
        json.dumps({"text": "[" * 500 + "{" * 500}),
        json.dumps({"text": '"' + "[" * 500}),  # an escaped quote does not end the string
        json.dumps({"text": "\\" * 9 + "[" * 500}),  # nor does an escaped backslash start one
    ],
)
def test_brackets_inside_strings_do_not_count(document: str) -> None:
    assert loads_limited(document, max_bytes=LIMIT)["text"] == json.loads(document)["text"]


def test_an_escaped_backslash_before_a_quote_ends_the_string() -> None:
    document = '["\\\\", ' + nested(MAX_JSON_DEPTH) + "]"
    with pytest.raises(JsonLimitError, match="nested deeper"):
        loads_limited(document, max_bytes=LIMIT)


@pytest.mark.parametrize(
    "literal",
    [
        "1" * 4300,
        "1" * (MAX_NUMBER_CHARS + 1),
        "-" + "9" * MAX_NUMBER_CHARS,
        "0." + "1" * 50,
        "1e" + "0" * 60,
    ],
)
def test_long_number_literals_are_refused(literal: str) -> None:
    with pytest.raises(JsonLimitError, match=f"number literal of {len(literal)} characters"):
        loads_limited(f'{{"n": {literal}}}', max_bytes=LIMIT)


def test_a_number_of_the_maximum_length_is_fine() -> None:
    assert loads_limited("9" * MAX_NUMBER_CHARS, max_bytes=LIMIT) == int("9" * MAX_NUMBER_CHARS)


@pytest.mark.parametrize("document", ["NaN", "[Infinity]", '{"a": -Infinity}', "1e999", "-1e400"])
def test_non_finite_numbers_are_refused(document: str) -> None:
    with pytest.raises(JsonLimitError, match=r"NaN and Infinity|out of range"):
        loads_limited(document, max_bytes=LIMIT)


def test_oversize_counts_bytes_for_bytes_and_text() -> None:
    with pytest.raises(JsonLimitError, match=r"oversize message: 1048577 bytes > 65536"):
        loads_limited(b" " * (1024 * 1024 + 1), max_bytes=LIMIT)
    text = json.dumps("长" * 30_000, ensure_ascii=False)  # 30,000 characters, 90,002 bytes
    with pytest.raises(JsonLimitError, match=r"oversize message: 90002 bytes"):
        loads_limited(text, max_bytes=LIMIT)


def test_not_utf8_names_the_byte() -> None:
    with pytest.raises(JsonLimitError, match=r"not UTF-8 \(byte 0xff at position 6\)"):
        loads_limited(b'{"a": \xff}', max_bytes=LIMIT)


def test_not_json_names_the_position() -> None:
    with pytest.raises(JsonLimitError, match=r"not JSON: .* at line 2 column 3 \(char 4\)"):
        loads_limited(b"{\n  x}", max_bytes=LIMIT)


@pytest.mark.parametrize(
    ("raw", "kind"), [(b"[1]", "list"), (b'"s"', "str"), (b"3", "int"), (b"null", "NoneType")]
)
def test_parse_json_object_wants_an_object(raw: bytes, kind: str) -> None:
    with pytest.raises(JsonLimitError, match=f"not a JSON object but {kind}"):
        parse_json_object(raw, max_bytes=LIMIT)


def test_json_limit_error_is_a_value_error() -> None:
    assert issubclass(JsonLimitError, ValueError)


JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=30,
)


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_decode_or_raise_json_limit_error(raw: bytes) -> None:
    try:
        value = loads_limited(raw, max_bytes=LIMIT)
    except JsonLimitError as exc:
        assert str(exc)
    else:
        assert value == json.loads(raw.decode("utf-8"))


@FAST
@given(JSON_VALUES, st.integers(min_value=0, max_value=60))
def test_arbitrary_json_decodes_or_raises_json_limit_error(value: Any, wrap: int) -> None:
    document = "[" * wrap + json.dumps(value) + "]" * wrap
    try:
        decoded = loads_limited(document, max_bytes=LIMIT)
    except JsonLimitError as exc:
        assert str(exc)
    else:
        assert wrap <= MAX_JSON_DEPTH and json.dumps(decoded) == document


@pytest.mark.parametrize("raw", [r'{"a": "\ud800"}', r'["x\udc00"]', r'{"\udbff": 1}'])
def test_a_lone_surrogate_escape_is_refused_because_no_utf8_writer_could_encode_it(raw: str) -> None:
    with pytest.raises(JsonLimitError, match="lone UTF-16 surrogate"):
        loads_limited(raw, max_bytes=1000)


def test_a_surrogate_pair_and_an_escaped_backslash_are_fine() -> None:
    assert loads_limited(r'{"k": "\ud83d\ude00"}', max_bytes=1000) == {"k": "\U0001f600"}
    assert loads_limited(r'{"k": "\\ud800"}', max_bytes=1000) == {"k": "\\ud800"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": ' + b"[" * 33 + b"]" * 33 + b"}",
        b'{"a": NaN}',
        b'{"a": -Infinity}',
        b'{"a": "\\ud800"}',
        b'{"a": ' + b"1" * 41 + b"}",
        b'{"a": -1.' + b"5" * 40 + b"}",
        b'{"a": 1e999}',
        b'{"a": [2, -1.5E+3]}',
        b'{"a": 1,\n "b": 7e5}',
        b"{" + b" " * 100 + b"}",
    ],
)
def test_what_the_limits_might_refuse_is_not_plainly_within_them(raw: bytes) -> None:
    assert not plainly_within_limits(raw, max_bytes=100)


def test_an_ordinary_event_is_plainly_within_the_limits() -> None:
    raw = json.dumps(
        {"id": "4e75e12f0c", "at": "2026-11-28T09:30:00.123+08:00", "n": [1, -2.5, 0], "t": "营业执照 e100"},
        ensure_ascii=False,
    ).encode()
    assert plainly_within_limits(raw, max_bytes=LIMIT)
    assert plainly_within_limits(json.dumps(json.loads(raw)).encode(), max_bytes=LIMIT)  # \\uXXXX escapes


NUMBERISH = st.text(alphabet='0123456789.eE+-[]{}:," \nNaInfity\\ud8', max_size=80)


@FAST
@given(st.one_of(NUMBERISH.map(str.encode), JSON_VALUES.map(lambda v: json.dumps(v).encode()), st.binary()))
def test_plainly_within_the_limits_leaves_only_utf8_and_syntax_to_refuse(raw: bytes) -> None:
    """What a strict parser accepts of such bytes, loads_limited accepts too (the intake's direct way)."""
    if not plainly_within_limits(raw, max_bytes=LIMIT):
        return
    try:
        loads_limited(raw, max_bytes=LIMIT)
    except JsonLimitError as exc:
        assert str(exc).startswith("not JSON:"), str(exc)
