"""The pure routing core on the shipped default policy and on small hand-made policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.events import Priority
from schemas.policy import RoutingPolicy, load_policy, parse_policy
from streams.routing import (
    UNCLASSIFIED,
    category_probabilities,
    classify,
    named_street,
    route_ticket,
    rules_confidence,
)
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY


@pytest.fixture(scope="module")
def policy() -> RoutingPolicy:
    return load_policy(DEFAULT_POLICY)


def test_seed_construction_permit_goes_to_approval_with_the_named_street(policy: RoutingPolicy) -> None:
    ticket = submission(
        "项目急需办理土石方施工许可证，材料繁多，流程不清楚", street="李村街道", enterprise_name="康杰药业"
    )
    routed = route_ticket(ticket, policy, NOW)
    assert routed.lead_department == "approval"
    assert routed.co_departments == ("construction", "street-licun")
    assert routed.priority is Priority.high  # key enterprise
    assert routed.key_enterprise and not routed.manual_triage
    assert [h.rule_id for h in routed.rules_fired] == ["construction-permit"]
    assert routed.policy_version == policy.version


def test_coordination_request_is_led_by_the_street_with_every_department_involved(
    policy: RoutingPolicy,
) -> None:
    ticket = submission(
        "康复中心运营需要卫健、残联、民政等多个部门协调，孤独症儿童康复训练", street="浮山路街道"
    )
    routed = route_ticket(ticket, policy, NOW)
    assert routed.category == "coordination"
    assert routed.lead_department == "street-fushanlu"
    assert set(routed.co_departments) == {"health", "civil", "disabled"}


def test_vague_request_goes_to_manual_triage(policy: RoutingPolicy) -> None:
    routed = route_ticket(submission("有问题想反映"), policy, NOW)
    assert routed.manual_triage and routed.lead_department == "office"
    assert routed.category == UNCLASSIFIED and routed.confidence == 0.0
    assert routed.co_departments == ()


def test_ambiguous_request_below_threshold_goes_to_triage(policy: RoutingPolicy) -> None:
    routed = route_ticket(submission("营业执照和社保的事情"), policy, NOW)
    assert routed.confidence < policy.threshold
    assert routed.manual_triage and routed.lead_department == "office"


def test_excluding_the_bouncing_department_routes_elsewhere_or_to_triage(policy: RoutingPolicy) -> None:
    ticket = submission("我们想办理食品经营许可证")
    assert route_ticket(ticket, policy, NOW).lead_department == "approval"
    rerouted = route_ticket(ticket, policy, NOW, excluded=frozenset({"approval"}))
    assert rerouted.lead_department == "office" and rerouted.manual_triage


def test_urgent_rule_raises_priority(policy: RoutingPolicy) -> None:
    routed = route_ticket(submission("工地燃气接入问题导致停工，情况紧急"), policy, NOW)
    assert routed.priority is Priority.urgent
    assert routed.lead_department == "construction"


def test_street_is_named_by_field_code_or_text(policy: RoutingPolicy) -> None:
    assert named_street(submission("x", street="street-jiushui"), policy) == "street-jiushui"
    assert named_street(submission("x", street="九水"), policy) == "street-jiushui"
    assert named_street(submission("请楼山街道帮忙"), policy) == "street-loushan"
    assert named_street(submission("楼山路边的门头招牌"), policy) is None


def test_full_width_text_matches_keywords_and_is_kept_as_written(policy: RoutingPolicy) -> None:
    routed = route_ticket(submission("ＡＢＣ公司，个体户　转企业（急）"), policy, NOW)
    assert routed.submission.text == "ＡＢＣ公司，个体户　转企业（急）"
    assert routed.lead_department == "approval"


@pytest.mark.parametrize(
    ("scores", "expected"),
    [([], 0.0), ([0.0], 0.0), ([2.0], 0.6667), ([2.0, 2.0], 0.4), ([6.0, 1.0], 0.75)],
)
def test_rules_confidence(scores: list[float], expected: float) -> None:
    assert rules_confidence(scores) == expected


def test_secondary_category_above_co_share_adds_its_lead() -> None:
    policy = parse_policy(
        {
            "version": "t1",
            "co_share": 0.5,
            "threshold": 0.3,
            "departments": [
                {"code": "office", "name": "办"},
                {"code": "a", "name": "A"},
                {"code": "b", "name": "B"},
            ],
            "categories": [
                {"code": "ca", "name": "A", "lead": "a"},
                {"code": "cb", "name": "B", "lead": "b"},
            ],
            "rules": [
                {"id": "r1", "category": "ca", "weight": 3, "keywords": ["甲"]},
                {"id": "r2", "category": "cb", "weight": 2, "keywords": ["乙"]},
            ],
        }
    )
    routed = route_ticket(submission("甲和乙"), policy, NOW)
    assert (routed.lead_department, routed.co_departments) == ("a", ("b",))
    only_a = classify(submission("只有甲"), policy)
    assert only_a.scores == {"ca": 3.0}


def test_default_policy_file_is_the_shipped_one() -> None:
    assert Path(DEFAULT_POLICY).name == "default.toml" and Path(DEFAULT_POLICY).is_file()


def test_default_policy_with_its_model_routes_unseen_requests_and_triages_vague_ones() -> None:
    from schemas.settings import Settings
    from tests.unit.test_classifier import UNSEEN
    from ztc.bootstrap import model_for, policy_for

    settings = Settings()
    policy = policy_for(settings)
    model = model_for(settings, policy)
    assert model is not None
    right = 0
    for text, label in UNSEEN:
        routed = route_ticket(submission(text), policy, NOW, model=model)
        category = policy.category(label)
        if category is None:  # "unclear": nobody's
            assert routed.manual_triage and routed.lead_department == "office", text
            continue
        right += routed.lead_department == category.lead or (
            category.lead_is_street and routed.lead_department.startswith("street-")
        )
    departmental = [t for t, label in UNSEEN if policy.category(label) is not None]
    assert right / len(departmental) >= 0.9
    for vague in ("有问题想反映", "你好，请问在吗", "有个情况想跟领导汇报一下"):
        routed = route_ticket(submission(vague), policy, NOW, model=model)
        assert routed.manual_triage and routed.lead_department == "office", vague


def test_a_bounced_ticket_keeps_low_confidence_instead_of_jumping_to_a_guess() -> None:
    from schemas.settings import Settings
    from ztc.bootstrap import model_for, policy_for

    settings = Settings()
    policy = policy_for(settings)
    model = model_for(settings, policy)
    ticket = submission("我们想办理食品经营许可证，一直没有回音")
    assert route_ticket(ticket, policy, NOW, model=model).lead_department == "approval"
    again = route_ticket(ticket, policy, NOW, frozenset({"approval"}), model=model)
    assert again.manual_triage and again.lead_department == "office"


class FixedModel:
    """A stand-in classifier with fixed probabilities, for the fusion rules alone."""

    def __init__(self, probabilities: dict[str, float]) -> None:
        self.probabilities = probabilities

    def predict_proba(self, text: str) -> dict[str, float]:
        return self.probabilities

    def explain(self, text: str, label: str, top_k: int = 8) -> list[tuple[str, float]]:
        return []


def two_category_policy(**rule: object) -> RoutingPolicy:
    return parse_policy(
        {
            "version": "t2",
            "threshold": 0.6,
            "departments": [
                {"code": "office", "name": "办"},
                {"code": "a", "name": "A"},
                {"code": "b", "name": "B"},
            ],
            "categories": [
                {"code": "ca", "name": "A", "lead": "a"},
                {"code": "cb", "name": "B", "lead": "b"},
            ],
            "rules": [{"id": "r", "category": "cb", "weight": 2, "keywords": ["乙"], **rule}],
        }
    )


def test_rules_shift_the_model_and_override_rules_decide() -> None:
    model = FixedModel({"ca": 0.7, "cb": 0.3})
    plain = two_category_policy()
    assert route_ticket(submission("甲"), plain, NOW, model=model).lead_department == "a"
    boosted = route_ticket(submission("乙"), plain, NOW, model=model)  # 0.3·e / (0.7 + 0.3·e) ≈ 0.54
    assert boosted.category == "cb" and boosted.manual_triage
    forced = route_ticket(submission("乙"), two_category_policy(override=True), NOW, model=model)
    assert (forced.lead_department, forced.confidence, forced.manual_triage) == ("b", 1.0, False)


def test_model_mass_on_unclaimed_labels_lowers_every_category() -> None:
    model = FixedModel({"ca": 0.2, "cb": 0.1, "unclear": 0.7})
    routed = route_ticket(submission("不知道说什么"), two_category_policy(), NOW, model=model)
    assert routed.manual_triage and routed.lead_department == "office"
    assert routed.confidence == 0.2


class FixedListModel(FixedModel):
    """The same, also giving its probabilities as a list in ``labels`` order (as TextClassifier does)."""

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.probabilities)

    def label_probabilities(self, text: str) -> list[float]:
        return list(self.probabilities.values())


@pytest.mark.parametrize("model_labels", [None, ("x", "y"), ("y",), ("missing",)])
def test_a_list_model_gives_the_categories_what_its_dict_gives(model_labels: tuple[str, ...] | None) -> None:
    policy = two_category_policy()
    if model_labels is not None:
        first = policy.categories[0].model_copy(update={"model_labels": model_labels})
        policy = policy.model_copy(update={"categories": (first, *policy.categories[1:])})
    probabilities = {"x": 0.1, "ca": 0.2, "y": 0.3, "cb": 0.4}
    by_list = category_probabilities(FixedListModel(probabilities), submission("甲"), policy)
    by_dict = category_probabilities(FixedModel(probabilities), submission("甲"), policy)
    assert by_list == by_dict
    expected: dict[tuple[str, ...] | None, float] = {
        None: 0.2,
        ("x", "y"): 0.1 + 0.3,
        ("y",): 0.3,
        ("missing",): 0.0,
    }
    assert by_list["ca"] == expected[model_labels]
