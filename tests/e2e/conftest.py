"""E2E fixtures: the embedded stack, the pipeline with a second-scale SLA policy, and ``ztc api``.

The stack comes from the integration fixtures; the policy is the shipped
default with its ``[sla]`` section replaced, so that some demo tickets are
overdue within seconds while others keep an hour.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from deploy.embedded import EmbeddedStack
from schemas.settings import Settings
from tests.integration.conftest import Services, default_policy_text, escalation_ladder, stack, stack_settings

__all__ = ["stack"]

E2E_SLA = """
[sla]
hold_outside_working_hours = false
warning_share = 0.8
default_tier = "normal"

[[sla.rules]]
tier = "fast"
categories = ["coordination"]

[[sla.tiers]]
name = "fast"
label = "演示-超快"
accept = "3 seconds"
resolve = "6 seconds"

[[sla.tiers]]
name = "normal"
label = "演示-一般"
accept = "1 hour"
resolve = "2 hours"
""" + escalation_ladder("1 second", "1 hour")

_SLA_HEADER = re.compile(r"^\s*\[\[?\s*sla\s*[.\]]")
_ANY_HEADER = re.compile(r"^\s*\[")


def without_sla_tables(policy_text: str) -> str:
    """The policy text without any ``[sla]`` / ``[[sla.*]]`` tables, so ours can be appended."""
    kept, in_sla = [], False
    for line in policy_text.splitlines():
        if _ANY_HEADER.match(line):
            in_sla = bool(_SLA_HEADER.match(line))
        if not in_sla:
            kept.append(line)
    return "\n".join(kept) + "\n"


@pytest.fixture(scope="module")
def settings(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # the demo has a handful of tickets: rank a department from its first valid callback
    policy_text = without_sla_tables(default_policy_text()).replace("min_tickets = 5", "min_tickets = 1")
    policy_text += E2E_SLA
    return stack_settings(stack, tmp_path_factory.mktemp("e2e"), policy_text, monitor_interval_s=0.3)


@pytest.fixture(scope="module")
def pipeline(settings: Settings) -> Iterator[Services]:
    running = Services(settings, settings.data_dir)
    for name in ("router", "recorder", "monitor"):
        running.start(name)
    yield running
    running.stop_all()
