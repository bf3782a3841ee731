"""The texts routing reads, folded once for the rules and the classifier (streams.routing_text).

``routing_texts`` cuts the classifier's NFKC-normalised, lowered text out of the rules' one. That is
exact because "\\n" and "。" are NFKC boundaries (nothing composes or reorders across them) and leave
lower-casing alone (neither is cased nor skipped by the final-sigma rule): checked here for every
BMP character, then end to end against the unshared computation.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import datetime

import pytest

from producers.publisher import build_submission
from schemas.events import DISTRICT_ZONE, TicketSubmitted
from schemas.settings import Settings
from streams.classifier import TextClassifier
from streams.classifier_features import fold, maskable_table, normalise
from streams.routing_text import model_text, routing_texts, ticket_text
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy, model_for

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=DISTRICT_ZONE)
SEPARATORS = ("\n", "。")
ODD = (
    "ＡＢＣ公司营业执照，电话１３９１２３４５６７８",
    "İstanbul 外资 ΣΑΣ ΟΔΟΣ Σ。Σ 'Σ' aΣ",  # İ lowers to two characters; final sigma
    "e\u0301 ㈱ ㍿ ﬁ ½ ⅷ ² ٣ ३ 𝟏 施工",  # compatibility forms, combining marks, digits of other scripts
    "𠀀 🏭 \U0001d400 厂房消防验收",  # outside the BMP
    "标题｡半角句号\n换行\u3000全角空格_x000D_",
    "\u0345\u0307 开头是组合符号",
    "ǅ ǈ ß ﬀ K Å 注册",
)


def _bmp() -> list[str]:
    return [chr(p) for p in range(0x10000) if not 0xD800 <= p <= 0xDFFF]


@pytest.mark.parametrize("separator", SEPARATORS)
def test_the_separators_are_nfkc_boundaries_next_to_every_bmp_character(separator: str) -> None:
    nfkc = unicodedata.normalize
    assert nfkc("NFKC", separator) == separator
    joined_wrong = [
        char
        for char in _bmp()
        if nfkc("NFKC", char + separator) != nfkc("NFKC", char) + separator
        or nfkc("NFKC", separator + char) != separator + nfkc("NFKC", char)
    ]
    assert not joined_wrong


@pytest.mark.parametrize("separator", SEPARATORS)
def test_the_separators_stop_the_final_sigma_context(separator: str) -> None:
    assert separator.lower() == separator and separator.upper() == separator  # not cased
    sides = ["aΣ", "Σ", "a'Σ", "AΣ'", "Σ\u0345", "ab", "", "Σb", "'b", "\u00adΣ"]
    for left in sides:
        for right in sides:
            assert (left + separator + right).lower() == left.lower() + separator + right.lower()


def _submission(title: str, text: str, project: str | None) -> TicketSubmitted:
    fields = {"channel_message_id": f"m-{abs(hash((title, text, project)))}", "title": title, "text": text}
    return build_submission({**fields, "project_name": project}, NOW)


def _submissions() -> list[TicketSubmitted]:
    rng = random.Random(7)
    plain = "施工许可证ａＡ１2Σσ。｡\n \u3000٣_x0d"  # one character in, one out: the cut is taken
    odd = plain + "İ\u0301㈱ﬁ𠀀"  # most such texts are not cut
    made = []
    for i in range(400):
        alphabet = plain if i % 2 else odd
        title = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12))).strip() or "题"
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 60))).strip() or "文"
        project = [None, "康杰药业项目", "ＡＢ项目Σ", "İ工程"][i % 4]
        made.append(_submission(title, text, project))
    made += [_submission(text[:8].strip(), text, None) for text in ODD]
    return made


def test_routing_texts_are_the_rules_text_and_the_folded_model_text() -> None:
    shared = 0
    for submission in _submissions():
        rules, folded = routing_texts(submission)
        assert rules == ticket_text(submission)
        if folded is not None:
            shared += 1
            assert folded == fold(model_text(submission))
    assert shared >= 100  # the cut is taken whenever it can be (not for "İ", outside the BMP...)


@pytest.fixture(scope="module")
def model() -> TextClassifier:
    loaded = model_for(Settings(), load_checked_policy(DEFAULT_POLICY))
    assert loaded is not None
    return loaded


def test_the_model_gives_the_same_bits_from_the_folded_text(model: TextClassifier) -> None:
    for submission in _submissions():
        text = model_text(submission)
        _, folded = routing_texts(submission)
        plain = model.label_probabilities(text)
        assert model.label_probabilities(text, folded) == plain
        assert model.label_probabilities(text, fold(text)) == plain


def test_masking_is_skipped_only_where_it_changes_nothing(model: TextClassifier) -> None:
    table = maskable_table()
    assert [chr(p) for p in range(0x80) if table[p]] == [*"0123456789", *"abcdefghijklmnopqrstuvwxyz"]
    assert table[0x10000]  # every character above the BMP: always masked
    for submission in _submissions():
        text = model_text(submission)
        whole, points = model._normalised(text, None)
        assert whole == normalise(text)
        assert points.tolist() == [ord(c) for c in whole]
