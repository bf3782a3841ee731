"""Unit tests for the ticket text classifier (streams.classifier*) and `ztc classify`."""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from streams.classifier import FORMAT_NAME, ModelLoadError, Prediction, TextClassifier
from streams.classifier_eval import evaluate, evaluate_predictions, read_labelled_csv, read_lexicon_csv
from streams.classifier_features import (
    NormaliseOptions,
    char_ngrams,
    gram_key,
    nfkc,
    ngram_keys,
    normalise,
    title_of,
)
from streams.classifier_train import TrainConfig, _matrix, fit
from ztc.classify_cmd import SHIPPED_LEXICON, add_classify_parser

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO / "deploy" / "policy" / "default-model.json"
DEFAULT_TRAINING = REPO / "deploy" / "policy" / "default-training.csv"

SYNTHETIC = {
    "permit": [
        "施工许可证办理太慢",
        "施工许可证材料怎么准备",
        "土石方施工许可证何时批",
        "施工许可审批卡住了",
    ],
    "labour": ["社保缴费基数怎么调整", "招聘普工需要社保吗", "稳岗补贴社保何时发放", "员工社保转移办理"],
    "food": ["饭店食品安全问题投诉", "超市过期食品安全投诉", "食品安全检查不合格", "外卖食品安全问题"],
}

# Fresh phrasings, written separately from deploy/policy/default-training.csv.
UNSEEN = [
    ("公司要换法人，执照变更在网上怎么操作", "business_registration"),
    ("我们是个体户，想升级成公司，个转企有什么手续", "business_registration"),
    ("子公司停业了想注销营业执照，需要准备啥", "business_registration"),
    ("项目桩基已经准备好了，施工许可证还没下来，能帮忙催催吗", "construction_permit"),
    ("土石方施工许可的申请材料到底要哪些，被退了两回", "construction_permit"),
    ("新开的面馆要办食品经营许可，现场核查什么时候来", "admin_licence"),
    ("理发店的公共场所卫生许可证快到期了，去大厅哪个窗口延续", "admin_licence"),
    ("厂房消防验收没通过，整改完了请尽快安排复验", "building_project"),
    ("项目主体完工了，竣工验收约不到人", "building_project"),
    ("新建车间的燃气接入一直没人管，冬天快来了", "building_project"),
    ("想把厂区的工业用地改成研发用地，用地性质变更怎么走", "land_planning"),
    ("厂房的不动产权证一直办不下来，税都交了", "land_planning"),
    ("规划许可证上的面积和测绘结果对不上", "land_planning"),
    ("生产线扩产要增加用电容量，供电那边说排不上，请发改协调", "project_filing"),
    ("企业投资项目备案内容有变化，备案证明怎么改", "project_filing"),
    ("行政处罚已经整改完了，想做信用修复", "project_filing"),
    ("我们第一次做外贸，出口退税不太懂，想请商务局指导", "commerce_trade"),
    ("商场想参加区里的促消费活动，怎么报名", "commerce_trade"),
    ("去年签约的项目一直没落地，选址还没定，请招商局帮忙", "investment_service"),
    ("想在李沧租两千平米的办公楼，有没有合适的载体", "investment_service"),
    ("办公楼电梯三天两头困人，请特种设备部门来查", "market_regulation"),
    ("在小饭馆吃饭后食物中毒，想投诉这家店", "market_regulation"),
    ("我们的商标被人冒用了，想找市场监管部门", "market_regulation"),
    ("厂里急缺一百个操作工，能不能帮忙办场招聘会", "labour_social"),
    ("稳岗补贴今年什么时候申报", "labour_social"),
    ("员工申请了劳动仲裁，我们想了解流程", "labour_social"),
    ("想开一家口腔门诊，医疗机构执业登记要什么材料", "health_service"),
    ("托育园开业前要去卫健部门备案吗", "health_service"),
    ("我们准备办一家养老院，民政备案需要满足什么条件", "civil_affairs"),
    ("行业协会换届要向民政局报哪些材料", "civil_affairs"),
    ("孤独症儿童康复机构申请定点，需要什么条件", "disability_service"),
    ("我们招了几名残疾职工，残保金能不能少交", "disability_service"),
    ("已经批下来的科技奖励资金到现在还没到账", "finance_subsidy"),
    ("政府采购项目验收完了，尾款一直不付", "finance_subsidy"),
    ("新项目的环评报告表什么时候能批", "environment"),
    ("隔壁厂晚上排废气，味道刺鼻", "environment"),
    ("新店的门头招牌做多大需要审批", "urban_management"),
    ("工地渣土车准运证在哪办理", "urban_management"),
    ("园区门口没有公交站，员工上班太不方便", "transport"),
    ("项目周边道路、排水、供电问题涉及好几个部门，请兴华路街道牵头协调", "coordination"),
    ("入驻园区后遇到好几个堵点，希望属地街道组织联席会议解决", "coordination"),
    ("想咨询点事情，麻烦有空回个电话", "unclear"),
    ("我们企业有个难题，想找政府聊聊", "unclear"),
]


@pytest.fixture(scope="module")
def small_model() -> TextClassifier:
    texts = [t for items in SYNTHETIC.values() for t in items]
    labels = [label for label, items in SYNTHETIC.items() for _ in items]
    return fit(texts, labels, config=TrainConfig(min_df=1, calibration_folds=2))


@pytest.fixture(scope="module")
def default_model() -> TextClassifier:
    return TextClassifier.load(DEFAULT_MODEL)


# -- normalisation and features ------------------------------------------------------
def test_normalise_nfkc_lower_whitespace_and_masks() -> None:
    raw = "  ＡＢＣ公司\t在A3区和K7县，  用户A0001234 于2019年 "
    assert normalise(raw) == "abc公司 在§区和§县, 用户§ 于0年"


def test_normalise_strips_excel_carriage_returns() -> None:
    assert normalise("标题。第一行_x000D_ 第二行") == "标题。第一行 第二行"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "纯中文没有全角标点",
        "全角，标点：（括号）！ＡＢＣ１２３　空格",
        "㈱公司 ㍿ ﬁ ⅷ ½",  # characters whose NFKC form is longer than one character
        "e\u0301 a\u0308 \u1100\u1161 \uac00\u11a8",  # combining sequences, Hangul jamo
        "𝐀𝟏 😀 \U00020000 ＡＢ",  # outside the BMP
        "\ud800 lone surrogate ＡＢ",
    ],
)
def test_fast_nfkc_equals_unicodedata(text: str) -> None:
    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_fast_nfkc_on_random_bmp_text() -> None:
    rng = random.Random(0)
    for _ in range(200):
        text = "".join(chr(rng.randrange(0x20, 0x10000)) for _ in range(rng.randrange(1, 40)))
        assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_code_mask_matches_the_plain_pattern() -> None:
    plain = re.compile(r"(?<![a-z])[a-z]\d*(?![a-z0-9])")  # the readable form of the mask
    rng = random.Random(1)
    for _ in range(500):
        text = "".join(rng.choice("ab1 2区市。x") for _ in range(rng.randrange(0, 16)))
        expected = plain.sub("§", " ".join(text.split()))
        assert normalise(text, NormaliseOptions(mask_digits=False)) == expected


def test_title_is_text_before_first_full_stop() -> None:
    assert title_of("营业执照变更。正文。更多") == "营业执照变更"
    assert title_of("没有句号的文本") == ""


def test_ngram_keys_match_gram_keys() -> None:
    text = "施工许可证a1"
    assert ngram_keys(text, 1, 3).tolist() == [gram_key(g) for g in char_ngrams(text, 1, 3)]
    assert len(char_ngrams(text, 1, 2)) == len(text) + len(text) - 1


# -- training and prediction ---------------------------------------------------------
def test_small_model_predicts_its_classes(small_model: TextClassifier) -> None:
    assert small_model.labels == ("food", "labour", "permit")
    assert small_model.predict("施工许可证什么时候批").label == "permit"
    assert small_model.predict("社保基数怎么调整").label == "labour"
    assert small_model.predict("饭店食品安全投诉").label == "food"


def test_probabilities_sum_to_one_and_are_sorted(small_model: TextClassifier) -> None:
    prediction = small_model.predict("施工许可和社保都有问题")
    values = list(prediction.probabilities.values())
    assert math.isclose(sum(values), 1.0, rel_tol=1e-9)
    assert values == sorted(values, reverse=True)
    assert prediction.confidence == values[0]
    assert prediction.label == next(iter(prediction.probabilities))


def test_fast_path_matches_sparse_reference(small_model: TextClassifier) -> None:
    payload = small_model.to_payload()
    blocks = [(b["vocab"], b["idf"], b["scale"]) for b in payload["blocks"]]  # (title, text)
    coef = np.vstack([np.asarray(b["coef"]).reshape(-1, len(small_model.labels)) for b in payload["blocks"]])
    texts = [
        "施工许可证。社保补贴",
        "食品安全投诉食品",
        "全新的文本",
        "许可。许可许可证证证。社保" * 5,
        "。社保",
        "a",
    ]
    parts = [(title_of(normalise(t)), normalise(t)) for t in texts]
    reference = _matrix(parts, blocks, TrainConfig(min_df=1)) @ coef + payload["intercept"]
    fast = np.vstack([small_model.scores(t) for t in texts])
    assert np.allclose(fast, reference, atol=1e-9)


def test_two_labels_and_odd_inputs() -> None:
    texts = SYNTHETIC["permit"] + SYNTHETIC["food"]
    labels = ["permit"] * 4 + ["food"] * 4
    model = fit(texts, labels, config=TrainConfig(min_df=1, calibration_folds=2))
    assert model.predict("施工许可证审批").label == "permit"
    assert model.predict("食品安全投诉").label == "food"
    for odd in ["", "   ", "。", "\ud800施工许可证", "😀食品安全"]:
        assert math.isclose(sum(model.predict_proba(odd).values()), 1.0)


def test_explain_returns_grams_found_in_the_text(small_model: TextClassifier) -> None:
    text = "土石方施工许可证审批"
    reasons = small_model.explain(text, "permit", top_k=5)
    assert reasons and len(reasons) <= 5
    assert all(gram in normalise(text) for gram, _ in reasons)
    weights = [weight for _, weight in reasons]
    assert weights == sorted(weights, reverse=True) and weights[0] > 0
    with pytest.raises(KeyError):
        small_model.explain(text, "no-such-label")


def test_save_load_round_trip_is_identical(small_model: TextClassifier, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    small_model.save(path)
    loaded = TextClassifier.load(path)
    assert loaded.labels == small_model.labels
    for text in ["施工许可证", "社保", "食品安全", "完全无关的句子", ""]:
        assert loaded.predict(text) == small_model.predict(text)


def test_train_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="labels"):
        fit(["a", "b"], ["x"])
    with pytest.raises(ValueError, match="two distinct"):
        fit(["a", "b"], ["x", "x"])


# -- model loading errors -------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"hello": 1}', f"not a {FORMAT_NAME} model file"),
        ("[1, 2, 3]", f"not a {FORMAT_NAME} model file"),
        (json.dumps({"format": FORMAT_NAME, "format_version": 99}), "unsupported model format version 99"),
        (json.dumps({"format": FORMAT_NAME, "format_version": 1, "labels": "x"}), "invalid model"),
    ],
)
def test_load_bad_files_raise_model_load_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ModelLoadError, match=message) as info:
        TextClassifier.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_load_truncated_model_and_missing_file(small_model: TextClassifier, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    small_model.save(path)
    payload = json.loads(path.read_text(encoding="utf-8"))
    payload["blocks"][1]["coef"] = payload["blocks"][1]["coef"][:-1]
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="coef"):
        TextClassifier.load(path)
    with pytest.raises(ModelLoadError, match="not found"):
        TextClassifier.load(tmp_path / "missing.json")


# -- evaluation ---------------------------------------------------------------------------
def test_evaluate_hand_checked_case() -> None:
    def pred(label: str, confidence: float) -> Prediction:
        return Prediction(label, confidence, {label: confidence})

    predictions = [pred("a", 0.9), pred("a", 0.6), pred("b", 0.8), pred("b", 0.4)]
    report = evaluate_predictions(predictions, ["a", "b", "b", "b"])
    assert report["n"] == 4 and report["accuracy"] == 0.75
    assert report["per_label"]["a"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    assert report["per_label"]["b"]["precision"] == 1.0
    assert report["per_label"]["b"]["recall"] == pytest.approx(2 / 3)
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    curve = {p["threshold"]: p for p in report["coverage_curve"]}
    assert curve[0.0]["coverage"] == 1.0 and curve[0.0]["precision"] == 0.75
    assert curve[0.5]["coverage"] == 0.75 and curve[0.5]["precision"] == pytest.approx(2 / 3)
    assert curve[0.7]["coverage"] == 0.5 and curve[0.7]["precision"] == 1.0
    assert curve[0.85]["coverage"] == 0.25 and curve[0.85]["precision"] == 1.0


def test_evaluate_model_dict_shape(small_model: TextClassifier) -> None:
    texts = [t for items in SYNTHETIC.values() for t in items]
    labels = [label for label, items in SYNTHETIC.items() for _ in items]
    report = evaluate(small_model, texts, labels)
    assert {"n", "accuracy", "macro_f1", "per_label", "coverage_curve"} <= set(report)
    assert set(report["per_label"]) == set(SYNTHETIC)
    assert all(set(p) == {"threshold", "coverage", "precision"} for p in report["coverage_curve"])


def test_read_labelled_csv_errors(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("text,category\n你好,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column"):
        read_labelled_csv(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="empty file"):
        read_labelled_csv(path)
    path.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no data rows"):
        read_labelled_csv(path)
    path.write_text("text,label\n你好,a\n再见,b\n", encoding="utf-8")
    assert read_labelled_csv(path) == (["你好", "再见"], ["a", "b"])


# -- the shipped default model -----------------------------------------------------------------
def test_default_model_routes_unseen_phrasings(default_model: TextClassifier) -> None:
    training = set(read_labelled_csv(DEFAULT_TRAINING)[0])
    assert not training & {text for text, _ in UNSEEN}
    assert {label for _, label in UNSEEN} == set(default_model.labels)
    right = sum(default_model.predict(text).label == label for text, label in UNSEEN)
    assert right / len(UNSEEN) >= 0.9


# -- CLI -----------------------------------------------------------------------------------------
def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ztc")
    add_classify_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


@pytest.mark.parametrize(
    "argv",
    [
        ["classify", "eval", "--model", "{missing}", "--data", "{data}"],
        ["classify", "eval", "--model", "{bad}", "--data", "{data}"],
        ["classify", "predict", "--model", "{bad}", "--text", "你好"],
        ["classify", "train", "--data", "{missing}", "--out", "{out}"],
        ["classify", "train", "--data", "{nolabel}", "--out", "{out}"],
        ["classify", "predict", "--model", str(DEFAULT_MODEL), "--data", "{missing}"],
    ],
)
def test_cli_user_errors_exit_2_with_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.json").write_text("{oops", encoding="utf-8")
    (tmp_path / "data.csv").write_text("text,label\n你好,a\n", encoding="utf-8")
    (tmp_path / "nolabel.csv").write_text("text\n你好\n", encoding="utf-8")
    names = {"missing": "missing.csv", "bad": "bad.json", "data": "data.csv"}
    names |= {"nolabel": "nolabel.csv", "out": "out.json"}
    filled = [a.format(**{k: str(tmp_path / v) for k, v in names.items()}) for a in argv]
    assert _run(filled) == 2
    err = capsys.readouterr().err
    assert err.startswith("错误 / error: ") and err.count("\n") == 1


def test_cli_train_eval_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data.csv"
    rows = [f"{t},{label}" for label, items in SYNTHETIC.items() for t in items]
    data.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    model = tmp_path / "model.json"
    assert _run(["classify", "train", "--data", str(data), "--out", str(model), "--folds", "2"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert _run(["classify", "eval", "--model", str(model), "--data", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == len(rows)
    assert _run(["classify", "predict", "--model", str(model), "--text", "施工许可证", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "permit"


def test_cli_train_reports_the_nested_estimate_and_learning_curve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.csv"
    rows = [f"{t},{label}" for label, items in SYNTHETIC.items() for t in items]
    data.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    argv = ["classify", "train", "--data", str(data), "--out", str(tmp_path / "m.json"), "--folds", "2"]
    assert _run([*argv, "--nested", "2", "--learning-curve"]) == 0
    out = capsys.readouterr().out
    assert "nested 2-fold CV, subtopic rows held out, selection inside, seeds [0, 1]" in out
    assert re.search(r"accuracy +\d\.\d{3} ± \d\.\d{3}", out)
    assert out.count("rows: accuracy") == 5
    assert TextClassifier.load(tmp_path / "m.json").metadata["candidate"].startswith("char1-2")


@pytest.mark.parametrize("bad", [True, float("nan"), float("inf"), "0.5", None])
def test_a_model_with_a_non_number_weight_is_refused(small_model: TextClassifier, bad: object) -> None:
    payload = json.loads(json.dumps(small_model.to_payload()))
    block = next(b for b in payload["blocks"] if b["coef"])
    block["coef"][len(block["coef"]) // 2] = bad
    with pytest.raises(ValueError, match="non-number or non-finite"):
        TextClassifier(payload)


SEVEN = {"城乡建设", "劳动和社会保障", "教育文体", "卫生计生", "交通运输", "商贸旅游", "环境保护"}


def test_the_shipped_lexicon_covers_the_seven_categories() -> None:
    rows = read_lexicon_csv(SHIPPED_LEXICON)
    assert {label for _, label in rows} == SEVEN
    assert all(len(text.split()) >= 5 for text, _ in rows)  # each row names several words


def test_cli_train_uses_the_shipped_lexicon_for_its_labels_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.csv"
    rows = [f"公交车{i}路班次太少,交通运输" for i in range(4)] + [
        f"工厂{i}号夜里排放废气,环境保护" for i in range(4)
    ]
    data.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    argv = ["classify", "train", "--data", str(data), "--out", str(tmp_path / "m.json"), "--folds", "0"]
    assert _run(argv) == 0
    out = capsys.readouterr().out
    assert str(SHIPPED_LEXICON) in out
    shipped = sum(label in {"交通运输", "环境保护"} for _, label in read_lexicon_csv(SHIPPED_LEXICON))
    assert f"lexicon rows for these labels: {shipped}" in out
    model = TextClassifier.load(tmp_path / "m.json")
    assert model.metadata["n_lexicon"] == shipped
    assert model.predict("出租车司机拒载绕路").label == "交通运输"  # words only the lexicon has

    permits = tmp_path / "permits.csv"
    permits.write_text("text,label\n" + "\n".join(f"{t},{lab}" for lab, ts in SYNTHETIC.items() for t in ts))
    assert (
        _run(["classify", "train", "--data", str(permits), "--out", str(tmp_path / "p.json"), "--folds", "0"])
        == 0
    )
    assert "lexicon rows for these labels: 0" in capsys.readouterr().out
    assert _run([*argv, "--no-lexicon"]) == 0
    assert "词表 / lexicon" not in capsys.readouterr().out
