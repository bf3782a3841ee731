"""The routing policy: departments, categories, rules, key lists and the triage threshold.

A policy is a versioned TOML file validated here. Structural errors come from
pydantic; cross-references (a category naming an unknown department, a rule
for an unknown category, a regex that does not compile) are collected by
:func:`policy_problems` so that ``ztc policy check`` reports every error with
its path at once.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.alert_policy import AlertPolicy, alert_policy_problems
from schemas.callback_rates import RatePolicy
from schemas.events import Priority
from schemas.hotspot_policy import HotspotPolicy, hotspot_policy_problems
from schemas.ranking_policy import RankingPolicy
from schemas.sla import SlaPolicy


class DepartmentKind(StrEnum):
    office = "office"
    bureau = "bureau"
    street = "street"


class Department(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    name: str = Field(min_length=1)
    kind: DepartmentKind = DepartmentKind.bureau
    handles: str = ""
    street_names: tuple[str, ...] = Field(
        default=(), description="For street offices: the names a ticket may use for the street"
    )
    groups: tuple[str, ...] = Field(
        default=(),
        description="For street offices: the enterprise-service chat groups of the street (group names "
        "as DingTalk shows them, or WeCom chat ids); a robot message from one names the street",
    )


class Category(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    lead: str = Field(description="Lead department code; ignored when lead_is_street and a street is named")
    lead_is_street: bool = Field(
        default=False, description="Territorial coordination: the named street office leads"
    )
    co: tuple[str, ...] = ()
    priority: Priority = Priority.normal
    model_labels: tuple[str, ...] = Field(
        default=(), description="Classifier labels that map to this category"
    )


class Rule(BaseModel):
    """A keyword or regex rule adding weight to one category."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    category: str | None = Field(default=None, description="None: the rule only flags urgency")
    weight: float = Field(default=1.0, gt=0)
    keywords: tuple[str, ...] = ()
    pattern: str | None = None
    urgent: bool = Field(default=False, description="A hit raises the ticket to urgent priority")
    override: bool = Field(default=False, description="A hit decides the category, whatever the model says")


class KeyEnterprise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    credit_code: str | None = None
    street: str | None = None


class KeyProject(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    enterprise: str | None = None
    street: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


class PrivacyRole(StrEnum):
    """How a person reads a ticket: as the office, its lead or a co-department, or a CLI operator."""

    office = "office"
    lead = "lead"
    co = "co"
    operator = "operator"


class PrivacyPolicy(BaseModel):
    """``[privacy]``: which readers see phone and ID-card numbers unmasked; all others see them masked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unmasked_roles: tuple[PrivacyRole, ...] = Field(
        default=(PrivacyRole.lead,),
        description="Roles that see personal data unmasked; by default only the lead department, "
        "which must call the enterprise",
    )


class RoutingPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    name: str = ""
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    triage_department: str = "office"
    co_share: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="Another category scoring at least this share of the top one adds its lead "
        "as co-department",
    )
    coordination_min_categories: int = Field(
        default=2,
        ge=1,
        description="A coordination request touching at least this many other categories is routed "
        "as joint handling: the street leads and every category's lead co-operates",
    )
    model: str | None = Field(
        default=None, description="Classifier model file (JSON), relative to the policy file"
    )
    rule_boost: float = Field(
        default=0.5, ge=0.0, le=5.0, description="With a model: log-odds a rule adds per unit of weight"
    )
    dedupe_window_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="The router forgets a channel message it routed this many days ago (its early "
        "repeat filter; the recorder's message claims are the guarantee)",
    )
    departments: tuple[Department, ...]
    categories: tuple[Category, ...]
    rules: tuple[Rule, ...] = ()
    key_enterprises: tuple[KeyEnterprise, ...] = ()
    key_projects: tuple[KeyProject, ...] = ()
    sla: SlaPolicy = Field(default_factory=SlaPolicy)
    privacy: PrivacyPolicy = Field(default_factory=PrivacyPolicy)
    alerts: AlertPolicy = Field(default_factory=AlertPolicy)
    rates: RatePolicy = Field(default_factory=RatePolicy)
    ranking: RankingPolicy = Field(default_factory=RankingPolicy)
    hotspots: HotspotPolicy = Field(default_factory=HotspotPolicy)

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    @property
    def department_codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.departments)


class PolicyProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PolicyError(ValueError):
    """A policy file that cannot be used, with every problem found."""

    def __init__(self, source: str, problems: list[PolicyProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s): " + "; ".join(map(str, problems)))


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _reference_problems(policy: RoutingPolicy) -> Iterator[PolicyProblem]:
    codes = set(policy.department_codes)
    categories = {c.code for c in policy.categories}
    for field, seen_codes in (("departments", policy.department_codes),):
        duplicates = {c for c in seen_codes if seen_codes.count(c) > 1}
        for code in sorted(duplicates):
            yield PolicyProblem(path=field, message=f"department code {code!r} appears twice")
    cat_codes = [c.code for c in policy.categories]
    for code in sorted({c for c in cat_codes if cat_codes.count(c) > 1}):
        yield PolicyProblem(path="categories", message=f"category code {code!r} appears twice")
    if policy.triage_department not in codes:
        yield PolicyProblem(
            path="triage_department", message=f"unknown department {policy.triage_department!r}"
        )
    for i, cat in enumerate(policy.categories):
        for j, dept in enumerate((cat.lead, *cat.co)):
            if dept not in codes:
                where = "lead" if j == 0 else f"co[{j - 1}]"
                yield PolicyProblem(path=f"categories[{i}].{where}", message=f"unknown department {dept!r}")
    for i, rule in enumerate(policy.rules):
        if rule.category is None and not rule.urgent:
            yield PolicyProblem(path=f"rules[{i}]", message="a rule without category must be urgent")
        if rule.category is not None and rule.category not in categories:
            yield PolicyProblem(path=f"rules[{i}].category", message=f"unknown category {rule.category!r}")
        if not rule.keywords and rule.pattern is None:
            yield PolicyProblem(path=f"rules[{i}]", message="needs keywords or a pattern")
        if rule.pattern is not None:
            try:
                re.compile(rule.pattern)
            except re.error as exc:
                yield PolicyProblem(path=f"rules[{i}].pattern", message=f"invalid regex: {exc}")
    for path, message in alert_policy_problems(policy.alerts, frozenset(codes)):
        yield PolicyProblem(path=path, message=message)
    for path, message in hotspot_policy_problems(policy.hotspots):
        yield PolicyProblem(path=path, message=message)
    yield from _group_problems(policy)
    for i, code in enumerate(policy.ranking.unranked):
        if code not in codes:
            yield PolicyProblem(path=f"ranking.unranked[{i}]", message=f"unknown department {code!r}")
    rule_ids = [r.id for r in policy.rules]
    for rid in sorted({r for r in rule_ids if rule_ids.count(r) > 1}):
        yield PolicyProblem(path="rules", message=f"rule id {rid!r} appears twice")


def _group_problems(policy: RoutingPolicy) -> Iterator[PolicyProblem]:
    owner: dict[str, str] = {}
    for i, dept in enumerate(policy.departments):
        if dept.groups and dept.kind is not DepartmentKind.street:
            yield PolicyProblem(path=f"departments[{i}].groups", message="only street offices have groups")
        for group in dept.groups:
            if group in owner and owner[group] != dept.code:
                yield PolicyProblem(
                    path=f"departments[{i}].groups", message=f"group {group!r} also belongs to {owner[group]}"
                )
            owner.setdefault(group, dept.code)


def street_of_group(policy: RoutingPolicy, group: str) -> Department | None:
    """The street office whose chat group this is: listed in its ``groups``, else named in the group's name.

    兴城路街道企业服务群 → 兴城路街道办事处 (its ``street_names`` include 兴城路街道); the longest
    street name found wins, so 兴华路 never matches a group of 兴华路东街道.
    """
    group = group.strip()
    if not group:
        return None
    streets = [d for d in policy.departments if d.kind is DepartmentKind.street]
    listed = next((d for d in streets if group in d.groups), None)
    if listed is not None:
        return listed
    found = [(len(name), d) for d in streets for name in (d.name, *d.street_names) if name and name in group]
    return max(found, key=lambda hit: hit[0])[1] if found else None


def policy_problems(raw: dict[str, Any]) -> list[PolicyProblem]:
    """Every problem in a parsed policy document: structure first, then references."""
    try:
        policy = RoutingPolicy.model_validate(raw)
    except ValidationError as exc:
        return [PolicyProblem(path=_loc(e["loc"]), message=e["msg"]) for e in exc.errors()]
    return list(_reference_problems(policy))


def parse_policy(raw: dict[str, Any], source: str = "<policy>") -> RoutingPolicy:
    problems = policy_problems(raw)
    if problems:
        raise PolicyError(source, problems)
    return RoutingPolicy.model_validate(raw)


def load_policy(path: Path) -> RoutingPolicy:
    """Read and validate a TOML policy file; raise PolicyError listing every problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(str(path), [PolicyProblem(path="(file)", message="file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(
            str(path), [PolicyProblem(path="(file)", message=f"not valid TOML: {exc}")]
        ) from None
    return parse_policy(raw, str(path))
