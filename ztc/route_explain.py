"""Why a ticket was routed as it was: one explanation for `ztc route --explain`, text and JSON.

With a model, the decision rests on probabilities (the model's, and the combined ones after
the fired rules' boosts). Without one — or when the policy decides alone (an ``override``
rule, a coordination request spanning several categories) — it rests on rule SCORES, which
are sums of rule weights, not probabilities; the explanation says which basis it is.
"""

from __future__ import annotations

from typing import Any

from schemas.events import TicketRouted, TicketSubmitted
from schemas.policy import RoutingPolicy
from streams.routing import LabelModel, classify
from streams.routing_text import model_text

TOP_GRAMS = 6
TOP_MODEL_LABELS = 3


def explanation(
    submission: TicketSubmitted, decision: TicketRouted, policy: RoutingPolicy, model: LabelModel | None
) -> dict[str, Any]:
    """The fired rules, the scores or probabilities behind the decision and the weightiest n-grams."""
    classification = classify(submission, policy, model=model)
    ranked = classification.ranked
    explained: dict[str, Any] = {
        "rules_fired": [hit.model_dump(mode="json") for hit in decision.rules_fired],
        "confidence": decision.confidence,
        "threshold": policy.threshold,
        "policy_version": policy.version,
        "model": model is not None,
    }
    if not classification.model_probabilities:
        explained["basis"] = "rule_scores"
        explained["rule_scores"] = dict(ranked)
        explained["confidence_rule"] = _confidence_rule(model is not None, classification.confidence)
        return explained
    assert model is not None  # model probabilities come from a model
    model_top = sorted(classification.model_probabilities.items(), key=lambda kv: (-kv[1], kv[0]))
    explained["basis"] = "probabilities"
    explained["model_probabilities"] = dict(model_top[:TOP_MODEL_LABELS])
    explained["combined_probabilities"] = dict(ranked[:TOP_MODEL_LABELS])
    text = model_text(submission)
    grams: dict[str, list[dict[str, Any]]] = {}
    for code, _ in ranked[:2]:
        category = policy.category(code)
        for label in (category.model_labels or (code,)) if category else (code,):
            top = [
                {"ngram": g, "weight": round(w, 4)} for g, w in model.explain(text, label, TOP_GRAMS) if w > 0
            ]
            grams.setdefault(code, []).extend(top)
    explained["top_ngrams"] = grams
    return explained


def _confidence_rule(with_model: bool, confidence: float) -> str:
    if with_model and confidence >= 1.0:
        return "policy decides alone (override rule): confidence 1"
    if with_model:
        return "policy decides alone (coordination across categories): top / (top + runner-up + 1)"
    return "no model: top / (top + runner-up + 1)"


def explanation_lines(explained: dict[str, Any]) -> list[str]:
    """The explanation as the lines `ztc route --explain` prints."""
    hits = explained["rules_fired"]
    lines = ["命中规则 rules fired:" if hits else "未命中任何规则 no rule fired"]
    for hit in hits:
        target = hit["category"] or "(urgent)"
        lines.append(f"  {hit['rule_id']:<22} +{hit['weight']:<4} → {target}  「{hit['matched']}」")
    if explained["basis"] == "rule_scores":
        scores = "，".join(f"{c} {s:.2f}" for c, s in explained["rule_scores"].items()) or "-"
        lines.append(f"规则得分 rule scores (not probabilities): {scores}")
        lines.append(f"  置信度 confidence {explained['confidence']:.2f} — {explained['confidence_rule']}")
    else:
        model = "，".join(f"{c} {p:.2f}" for c, p in explained["model_probabilities"].items())
        combined = "，".join(f"{c} {p:.2f}" for c, p in explained["combined_probabilities"].items())
        lines.append(f"模型概率 model: {model}；综合 combined: {combined}")
        for code, grams in explained["top_ngrams"].items():
            words = "、".join(f"{g['ngram']}({g['weight']:+.2f})" for g in grams) or "-"
            lines.append(f"  {code} 关键字词 top n-grams: {words}")
    suffix = " + model" if explained["model"] else ""
    lines.append(f"阈值 threshold {explained['threshold']}; policy {explained['policy_version']}{suffix}")
    return lines
