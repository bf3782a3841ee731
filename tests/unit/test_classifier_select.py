"""Unit tests for the honest estimates (streams.classifier_select) and their metrics."""

from __future__ import annotations

from dataclasses import replace

import pytest

from streams.classifier_eval import coverage_at_precision, precision_at_coverage
from streams.classifier_select import (
    CANDIDATES,
    Candidate,
    held_out_cross_validate,
    held_out_groups,
    learning_curve,
    near_duplicate_groups,
    nested_cross_validate,
    select_candidate,
    subtopic_groups,
    usable_candidates,
)
from streams.classifier_train import TrainConfig, fit, lexicon_words
from tests.unit.test_classifier import SYNTHETIC

TEXTS = [t for items in SYNTHETIC.values() for t in items]
LABELS = [label for label, items in SYNTHETIC.items() for _ in items]
SMALL = (
    Candidate("one", TrainConfig(min_df=1, calibration_folds=0)),
    Candidate("two", TrainConfig(min_df=1, ngram=(1, 3), calibration_folds=0)),
)


def test_precision_at_coverage_takes_the_surest_share() -> None:
    scored = [(0.9, True), (0.8, False), (0.7, True), (0.6, False)]
    assert precision_at_coverage(scored, 0.5) == 0.5
    assert precision_at_coverage([(0.9, True), (0.5, False)], 0.5) == 1.0
    assert precision_at_coverage(scored, 1.0) == 0.5


def test_coverage_at_precision_is_the_largest_share_meeting_the_target() -> None:
    scored = [(0.99, True), (0.9, True), (0.8, True), (0.7, False), (0.6, True)]
    assert coverage_at_precision(scored, 0.95) == 0.6
    assert coverage_at_precision(scored, 0.75) == 1.0
    assert coverage_at_precision([(0.9, False)], 0.95) == 0.0
    assert coverage_at_precision([], 0.95) == 0.0


def test_near_duplicates_share_a_group_and_others_do_not() -> None:
    base = "小区门口垃圾堆放多日无人清理，气味很大，希望尽快处理"
    groups = near_duplicate_groups([base, base + "。谢谢", "社保缴费基数怎么调整", "施工许可证办理太慢"])
    assert groups[0] == groups[1]
    assert len({groups[0], groups[2], groups[3]}) == 3


def test_subtopics_split_each_label_and_keep_near_duplicates_together() -> None:
    noise = "小区门口垃圾堆放多日无人清理，气味很大，希望尽快处理"
    texts = [*TEXTS, noise, noise + "。谢谢"]
    labels = [*LABELS, "permit", "permit"]
    groups = subtopic_groups(texts, labels, size=3, min_groups=2)
    for label in set(labels):
        mine = {g for g, lab in zip(groups, labels, strict=True) if lab == label}
        theirs = {g for g, lab in zip(groups, labels, strict=True) if lab != label}
        assert len(mine) >= 2 and not mine & theirs  # a subtopic never mixes labels
    assert groups[-1] == groups[-2]
    sizes = [groups.count(g) for g in set(groups)]
    assert max(sizes) < len(texts) // 2
    # similar texts cluster together: the three 施工许可证 rows are not spread over three groups
    permits = [g for t, g in zip(texts, groups, strict=True) if t.startswith("施工许可证")]
    assert len(set(permits)) < len(permits)


def test_held_out_groups_knows_two_kinds_and_refuses_others() -> None:
    assert held_out_groups(TEXTS, LABELS, "near-duplicate", folds=2, seed=0) == near_duplicate_groups(TEXTS)
    assert len(set(held_out_groups(TEXTS, LABELS, "subtopic", folds=2, seed=0))) < len(TEXTS)
    with pytest.raises(ValueError, match="held_out must be one of subtopic, near-duplicate"):
        held_out_groups(TEXTS, LABELS, "random", folds=2, seed=0)


def test_held_out_cross_validation_gives_the_headline_figures() -> None:
    report = held_out_cross_validate(SMALL[0], TEXTS, LABELS, folds=2)
    assert report["n"] == len(TEXTS) and report["held_out"] == "subtopic"
    assert {"accuracy", "precision_at_half", "coverage_at_95", "per_label"} <= set(report)
    assert 0.0 <= report["coverage_at_95"] <= 1.0


def test_without_a_lexicon_candidates_collapse_by_ngram_range() -> None:
    pool = usable_candidates([])
    assert [c.config.ngram for c in pool] == sorted({c.config.ngram for c in CANDIDATES})
    assert not any(c.use_lexicon for c in pool)
    assert usable_candidates([("施工。许可", "permit")]) == list(CANDIDATES)


def test_select_candidate_scores_every_candidate() -> None:
    chosen, scores = select_candidate(TEXTS, LABELS, lexicon=[("食品。安全", "food")], candidates=SMALL)
    assert set(scores) == {"one", "two"}
    assert scores[chosen.name] == max(scores.values())
    bad = replace(SMALL[0], name="bad", config=replace(SMALL[0].config, mix=(0.0, 0.0)))
    chosen, scores = select_candidate(TEXTS, LABELS, lexicon=[("a。b", "food")], candidates=[bad, SMALL[0]])
    assert chosen.name == "one" and scores["bad"] < scores["one"]


def test_nested_cross_validation_reports_every_seed_and_mean_sd() -> None:
    result = nested_cross_validate(TEXTS, LABELS, candidates=SMALL, folds=2, seeds=[0, 1])
    assert [run["seed"] for run in result["runs"]] == [0, 1]
    assert all(len(run["chosen"]) == 2 for run in result["runs"])
    mean, sd = result["summary"]["accuracy"]
    assert 0.0 <= mean <= 1.0 and sd >= 0.0
    assert set(result["summary"]) == {"accuracy", "macro_f1", "precision_at_half", "coverage_at_95"}
    assert result["held_out"] == "subtopic"
    milder = nested_cross_validate(
        TEXTS, LABELS, candidates=SMALL, folds=2, seeds=[0], held_out="near-duplicate"
    )
    assert milder["held_out"] == "near-duplicate" and len(milder["runs"]) == 1


def test_learning_curve_grows_the_training_share() -> None:
    points = learning_curve(TEXTS, LABELS, candidate=SMALL[0], fractions=(0.5, 1.0), folds=2)
    assert [p["fraction"] for p in points] == [0.5, 1.0]
    assert points[0]["n_train"] < points[1]["n_train"]
    assert all(0.0 <= p["accuracy"] <= 1.0 for p in points)


def test_lexicon_boost_multiplies_the_idf_of_whole_lexicon_words_only() -> None:
    lexicon = [("施工。许可 审批", "permit"), ("社保 补贴", "labour"), ("诈骗。报警", "other")]
    plain = TrainConfig(min_df=1, calibration_folds=0)
    words = lexicon_words([t for t, _ in lexicon], replace(plain, lexicon_boost=2.0))
    assert words == {"施工", "许可", "审批", "社保", "补贴", "诈骗", "报警"}  # untrained labels' words too
    assert lexicon_words([t for t, _ in lexicon], plain) == frozenset()  # no boost: nothing to look up
    idf = {}
    for boost in (1.0, 2.0):
        model = fit(TEXTS, LABELS, lexicon=lexicon, config=replace(plain, lexicon_boost=boost))
        text_block = model.to_payload()["blocks"][1]
        idf[boost] = dict(zip(text_block["vocab"], text_block["idf"], strict=True))
    assert idf[1.0].keys() == idf[2.0].keys()
    for gram, before in idf[1.0].items():
        expected = before * 2.0 if gram in words else before
        assert idf[2.0][gram] == pytest.approx(expected, rel=1e-5), gram
    assert {"施工", "社保"} <= idf[1.0].keys()  # the test compares boosted grams, not only plain ones


def test_the_word_boost_is_a_candidate_of_its_own() -> None:
    boosted = [c for c in CANDIDATES if c.config.lexicon_boost != 1.0]
    assert boosted and all(c.use_lexicon for c in boosted)
