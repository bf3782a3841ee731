"""Needles.present finds exactly the needles a text contains, whatever their overlaps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.routing_index import Needles

_ALPHABET = "ab施工许可证"  # few letters: needles overlap, nest and straddle each other often
_words = st.text(alphabet=_ALPHABET, min_size=0, max_size=5)


@settings(max_examples=400, deadline=None)
@given(needles=st.lists(_words, max_size=25), text=st.text(alphabet=_ALPHABET + "，。", max_size=40))
def test_present_is_every_needle_in_the_text(needles: list[str], text: str) -> None:
    assert Needles(needles).present(text) == {n for n in needles if n in text}


def test_a_needle_straddling_the_end_of_a_longer_one_is_found() -> None:
    needles = Needles(["土石方施工", "施工许可证", "施工"])
    assert needles.present("申请土石方施工许可证") == {"土石方施工", "施工许可证", "施工"}


def test_no_needles_find_nothing_but_the_empty_string_is_everywhere() -> None:
    assert Needles([]).present("任何文字") == set()
    assert Needles([""]).present("任何文字") == {""}
