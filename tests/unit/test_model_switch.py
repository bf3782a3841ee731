"""Model identity, the router's stamp, labels from the office's dispatches, the model watch, compare."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from schemas.events import TicketRouted
from schemas.settings import Settings
from schemas.ticket import Closure, ClosureKind, HistoryEntry, TicketRecord
from schemas.ticket_state import apply
from streams.classifier import ModelLoadError, TextClassifier
from streams.classifier_train import TrainConfig, fit
from streams.history_labels import dispatched_category, history_labels
from streams.metrics import RouterMetrics
from streams.model_compare import Case, compare_models
from streams.model_registry import ActiveModel
from streams.model_watch import ModelWatch
from streams.replay import Router, replay
from streams.router_steps import Origin, RouterSteps, SeenMessages
from streams.routing import route_ticket
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy, load_model

POLICY = load_checked_policy(DEFAULT_POLICY)
SHIPPED = load_model(DEFAULT_POLICY, POLICY)
TOPICS = Settings().topics
TEXTS = {
    "transport": ["公交线路调整", "物流车辆通行证", "道路运输许可", "货车限行问题"],
    "labour_social": ["社保缴费基数", "招聘补贴申请", "劳动争议调解", "稳岗返还资金"],
}


@pytest.fixture(scope="module")
def small() -> TextClassifier:
    texts = [t for items in TEXTS.values() for t in items]
    labels = [label for label, items in TEXTS.items() for _ in items]
    return fit(texts, labels, config=TrainConfig(min_df=1, calibration_folds=2), version="v-test")


# -- identity -------------------------------------------------------------------------------


def test_a_model_is_known_by_its_version_and_the_hash_of_its_file(
    small: TextClassifier, tmp_path: Path
) -> None:
    path = tmp_path / "m.json"
    small.save(path)
    loaded = TextClassifier.load(path)
    assert loaded.identity.version == "v-test"
    assert loaded.identity.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == small.identity.sha256
    assert TextClassifier.from_bytes(path.read_bytes(), "x").identity == loaded.identity
    assert SHIPPED is not None and SHIPPED.identity.version == "unversioned"  # written before versions


@pytest.mark.parametrize("version", ["", "x" * 65, "bad\nline", 7])
def test_a_bad_version_is_refused(small: TextClassifier, tmp_path: Path, version: object) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({**small.to_payload(), "version": version}), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="version"):
        TextClassifier.load(path)


def test_the_router_stamps_the_model_on_every_decision_and_nothing_without_one(small: TextClassifier) -> None:
    steps = RouterSteps(TOPICS, POLICY, lambda: NOW, RouterMetrics.registered_in(CollectorRegistry()), small)
    raw = submission("公交线路调整").model_dump_json().encode()
    routed = TicketRouted.model_validate_json(
        steps.route(raw, Origin(TOPICS.submitted), SeenMessages()).sends[0].value
    )
    assert (routed.model_version, routed.model_sha256) == ("v-test", small.identity.sha256)
    steps.use_model(None)
    plain = steps.route(raw, Origin(TOPICS.submitted), SeenMessages()).sends[0].value
    assert b"model_" not in plain and TicketRouted.model_validate_json(plain).model_sha256 is None


# -- labels from the office's dispatches -------------------------------------------------------


def triaged(text: str = "充电桩的事情不知道问谁") -> TicketRecord:
    decision = route_ticket(submission(text), POLICY, NOW, model=SHIPPED)
    assert decision.manual_triage
    return apply(None, decision)


def entry(event_type: str, **details: object) -> HistoryEntry:
    return HistoryEntry(event_id=event_type, event_type=event_type, at=NOW, summary="", details=details)


def with_history(record: TicketRecord, *entries: HistoryEntry, **update: object) -> TicketRecord:
    return record.model_copy(update={"history": (*record.history, *entries), **update})


def test_the_office_dispatch_is_the_label_and_everything_else_is_skipped_with_its_reason() -> None:
    record = triaged()
    dispatched = with_history(record, entry("TicketDispatched", lead_department="transport"))
    to_street = with_history(record, entry("TicketDispatched", lead_department="street-licun"))
    rerouted = with_history(
        dispatched, entry("TicketBounced"), entry("TicketRouted", lead_department="urban")
    )
    redispatched = with_history(rerouted, entry("TicketDispatched", lead_department="hrss"))
    closure = Closure(kind=ClosureKind.spam, at=NOW)
    assert getattr(dispatched_category(dispatched, POLICY), "code", None) == "transport"
    assert getattr(dispatched_category(to_street, POLICY), "code", None) == "coordination"
    assert getattr(dispatched_category(redispatched, POLICY), "code", None) == "labour_social"
    assert dispatched_category(record, POLICY) == "not_dispatched"
    assert dispatched_category(rerouted, POLICY) == "rerouted_after_dispatch"
    assert dispatched_category(with_history(dispatched, closure=closure), POLICY) == "closed"
    office = with_history(record, entry("TicketDispatched", lead_department="office"))
    assert dispatched_category(office, POLICY) == "no_category"
    found = history_labels([dispatched, record, rerouted, redispatched], POLICY)
    assert [h.label for h in found.labelled] == ["transport", "labour_social"]
    assert found.labelled[0].text == f"{record.submission.title}。{record.submission.text}"
    assert dict(found.skipped) == {"not_dispatched": 1, "rerouted_after_dispatch": 1}


def test_a_bureau_leading_several_categories_keeps_the_routers_category_only_if_it_is_one_of_them() -> None:
    record = triaged()
    to_approval = with_history(record, entry("TicketDispatched", lead_department="approval"))
    assert dispatched_category(to_approval, POLICY) == "no_category"  # the router said project_filing
    agreed = with_history(to_approval, category="construction_permit")
    assert getattr(dispatched_category(agreed, POLICY), "code", None) == "construction_permit"


# -- the watch -----------------------------------------------------------------------------------


class FakeRegistry:
    def __init__(self) -> None:
        self.pointer: ActiveModel | None = None
        self.models: dict[str, TextClassifier] = {}
        self.down = False

    def switch(self, model: TextClassifier) -> None:
        identity = model.identity
        self.models[identity.sha256] = model
        self.pointer = ActiveModel(identity.version, identity.sha256, "now", "file")

    def active(self) -> ActiveModel | None:
        if self.down:
            raise ConnectionError("Redis away")
        return self.pointer

    def load(self, pointer: ActiveModel) -> TextClassifier:
        if pointer.sha256 not in self.models:
            raise ModelLoadError("damaged")
        return self.models[pointer.sha256]


def test_the_watch_hands_over_a_switch_once_refuses_bad_ones_and_goes_back_on_reset(
    small: TextClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    assert SHIPPED is not None
    registry = FakeRegistry()
    watch = ModelWatch(registry, POLICY, SHIPPED, SHIPPED)  # type: ignore[arg-type]
    told: list[object] = []
    watch.on_switch = told.append
    watch.poll()
    assert watch.take() is None and told == []  # nothing switched: keep the policy's
    registry.switch(small)
    watch.poll()
    swap = watch.take()
    assert swap is not None and swap.model is small and watch.take() is None
    assert told == [small.identity]
    watch.poll()
    assert watch.take() is None  # the same pointer again: nothing to do
    registry.pointer = ActiveModel("bad", "0" * 64, "now", "file")
    with caplog.at_level(logging.ERROR):
        watch.poll()
        watch.poll()
    assert watch.take() is None
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert "keeping it" in caplog.records[0].getMessage() and "v-test@" in caplog.records[0].getMessage()
    registry.down = True
    watch.poll()
    assert watch.take() is None
    registry.down, registry.pointer = False, None
    watch.poll()
    back = watch.take()
    assert back is not None and back.model is SHIPPED
    assert told == [small.identity, SHIPPED.identity]  # refusals and Redis away told nothing


def test_a_model_that_fits_no_category_of_the_policy_is_refused() -> None:
    stranger = fit(
        ["一二三", "四五六", "七八九", "十一二"], ["a", "a", "b", "b"], config=TrainConfig(min_df=1)
    )
    registry = FakeRegistry()
    watch = ModelWatch(registry, POLICY, SHIPPED, SHIPPED)  # type: ignore[arg-type]
    registry.switch(stranger)
    watch.poll()
    assert watch.take() is None


# -- compare ---------------------------------------------------------------------------------------


def test_compare_scores_both_models_as_routed_and_lists_the_changes(small: TextClassifier) -> None:
    texts = [t for items in TEXTS.values() for t in items]
    swapped = fit(
        texts, ["labour_social"] * 4 + ["transport"] * 4, config=TrainConfig(min_df=1, calibration_folds=2)
    )
    cases = [
        Case(submission(text, ticket_id=f"ZTC-20261127-{i:08d}", channel_message_id=text), label, NOW)
        for i, (label, text) in enumerate((label, t) for label, items in TEXTS.items() for t in items)
    ]
    result = compare_models(cases, POLICY, small, swapped)
    assert result.old.n == result.new.n == 8 and result.support == {"transport": 4, "labour_social": 4}
    assert result.old.accuracy == 1.0 and result.old.per_category == {"transport": 4, "labour_social": 4}
    assert result.new.accuracy < 0.5
    old_routes = [route_ticket(c.submission, POLICY, NOW, model=small) for c in cases]
    new_routes = [route_ticket(c.submission, POLICY, NOW, model=swapped) for c in cases]
    auto = [(r, c) for r, c in zip(old_routes, cases, strict=True) if not r.manual_triage]
    assert (
        result.old.auto_share == len(auto) / 8
        and result.new.auto_share == sum(not r.manual_triage for r in new_routes) / 8
    )
    assert result.old.auto_precision == (
        sum(r.category == c.category for r, c in auto) / len(auto) if auto else 1.0
    )
    assert (
        result.old.accuracy
        == sum(r.category == c.category for r, c in zip(old_routes, cases, strict=True)) / 8
    )
    changed = [
        c.submission.ticket_id
        for r, n, c in zip(old_routes, new_routes, cases, strict=True)
        if (r.lead_department, r.category, r.manual_triage)
        != (n.lead_department, n.category, n.manual_triage)
    ]
    assert [change.ticket_id for change in result.changes] == changed and changed
    same = compare_models(cases, POLICY, small, small)
    assert same.changes == [] and same.old.accuracy == same.new.accuracy


# -- replay ----------------------------------------------------------------------------------------


def test_replay_counts_the_routes_a_candidate_would_change_and_the_leads_by_department(
    small: TextClassifier,
) -> None:
    cases = [
        (submission(text, ticket_id=f"ZTC-20261127-{i:08d}", channel_message_id=text), NOW)
        for i, text in enumerate(t for items in TEXTS.values() for t in items)
    ]
    same = replay(cases, Router(POLICY, small), Router(POLICY, small))
    assert same.n == 8 and same.changes == [] and same.leads_now == same.leads_then
    rules_alone = replay(cases, Router(POLICY, small), Router(POLICY, None))
    assert rules_alone.leads_now["transport"] == 4 and rules_alone.changes
    assert sum(rules_alone.leads_then.values()) == 8
    assert rules_alone.departments[0] in {"transport", "hrss", "office"}


def test_route_replay_over_a_jsonl_file_publishes_nothing_and_says_what_would_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ztc.cli import main

    monkeypatch.setenv("ZTC_REDIS_URL", "redis://127.0.0.1:1")  # nothing there: the live side warns
    lines = [json.dumps({"text": text}, ensure_ascii=False) for items in TEXTS.values() for text in items]
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    policy = tmp_path / "rules-only.toml"
    policy.write_text(
        DEFAULT_POLICY.read_text(encoding="utf-8").replace('model = "default-model.json"\n', "")
    )
    assert main(["route", "--replay", str(tmp_path / "t.jsonl"), "--policy", str(policy), "--as-json"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["n"] == 8 and report["changed"] == len(report["changes"]) > 0
    assert "Redis unreachable" in out.err
    (tmp_path / "bad.jsonl").write_text('{"text": ""}\n', encoding="utf-8")
    assert main(["route", "--replay", str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err


def test_classify_compare_on_a_csv_prints_the_table_and_refuses_a_bad_model_in_one_line(
    small: TextClassifier, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ztc.cli import main

    small.save(tmp_path / "small.json")
    rows = [f"{text},{label}" for label, items in TEXTS.items() for text in items]
    (tmp_path / "held.csv").write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    shipped = str(DEFAULT_POLICY.parent / "default-model.json")
    args = [
        "classify",
        "compare",
        shipped,
        str(tmp_path / "small.json"),
        "--data",
        str(tmp_path / "held.csv"),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "样本 / n = 8" in out and "准确率 accuracy" in out and "自动派单精确率 precision at ≥ 0.6" in out
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    assert main([*args[:3], str(tmp_path / "bad.json"), *args[4:]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "无法比较 cannot compare" in err and "bad.json" in err
