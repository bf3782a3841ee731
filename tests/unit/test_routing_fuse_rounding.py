"""``fuse`` rounds its shares as ``round(share, 4)`` does, bit for bit, without calling it for most."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.routing import fuse

_CODES = ("a", "b", "c", "d", "e")


def _reference(
    model: dict[str, float], rules: dict[str, float], allowed: frozenset[str], boost: float
) -> dict[str, float]:
    """``fuse`` as it was written before its rounding was made cheaper."""
    unclaimed = max(0.0, 1.0 - sum(model.values()))
    shift = max(0.0, boost * max(rules.values(), default=0.0))
    weights = {c: p if p > 1e-6 else 1e-6 for c, p in model.items()}
    if shift:
        scale = math.exp(-shift)
        weights = {
            c: w * (math.exp(boost * rules[c] - shift) if c in rules else scale) for c, w in weights.items()
        }
    for c in allowed:
        if c not in weights:
            weights[c] = 1e-6 * math.exp(boost * rules.get(c, 0.0) - shift)
    total = sum(weights.values()) + unclaimed * math.exp(-shift)
    return {c: round(weights[c] / total, 4) for c in allowed}


_probabilities = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=len(_CODES))


@settings(max_examples=500, deadline=None)
@given(
    raw=_probabilities,
    rule_weights=st.dictionaries(st.sampled_from(_CODES), st.floats(0.0, 6.0), max_size=3),
    allowed=st.frozensets(st.sampled_from(_CODES), min_size=1),
    boost=st.floats(0.0, 2.0),
)
def test_fuse_rounds_as_round_does(
    raw: list[float], rule_weights: dict[str, float], allowed: frozenset[str], boost: float
) -> None:
    total = sum(raw) or 1.0
    model = {code: p / total for code, p in zip(_CODES, raw, strict=False)}
    assert fuse(model, rule_weights, allowed, boost) == _reference(model, rule_weights, allowed, boost)


def test_shares_a_hair_from_a_half_are_rounded_as_round_does() -> None:
    for k in (0, 1, 4999, 5000, 9999):
        for share in (
            math.nextafter((k + 0.5) / 1e4, 0.0),
            (k + 0.5) / 1e4,
            math.nextafter((k + 0.5) / 1e4, 1.0),
        ):
            model = {"a": share, "b": 1.0 - share}
            assert fuse(model, {}, frozenset({"a", "b"}), 0.0) == _reference(
                model, {}, frozenset({"a", "b"}), 0.0
            )
