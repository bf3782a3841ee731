"""Routing decisions, byte for byte: a fixed set of tickets routed as recorded before any speed-up.

About a thousand submissions (every training text of the shipped model, plus
realistic intake tickets naming streets, key enterprises and key projects) are
routed with the shipped policy and model at moments across working days,
evenings, weekends and holidays, some with excluded departments as a re-route
has. The SHA-256 of each ``TicketRouted``'s JSON — the bytes the router sends —
must equal the one in ``data/routing_golden.json``. A change that means to
change decisions rewrites the file with ``ZTC_WRITE_GOLDEN=1 pytest this_file``
and says why in its commit.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from producers.publisher import build_submission
from schemas.events import DISTRICT_ZONE, TicketSubmitted
from schemas.settings import Settings
from streams.classifier import TextClassifier
from streams.routing import route_ticket
from tests.chaos.tickets import ticket_body
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy, model_for

GOLDEN = Path(__file__).parent / "data" / "routing_golden.json"
POLICY = load_checked_policy(DEFAULT_POLICY)
MOMENTS = (
    datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=DISTRICT_ZONE),  # a Friday morning
    datetime(2026, 11, 27, 17, 29, 59, tzinfo=DISTRICT_ZONE),  # just before closing
    datetime(2026, 11, 28, 22, 15, tzinfo=DISTRICT_ZONE),  # Saturday night
    datetime(2026, 9, 30, 16, 0, tzinfo=DISTRICT_ZONE),  # before the National Day holiday
    datetime(2026, 2, 14, 9, 0, tzinfo=DISTRICT_ZONE),  # a make-up workday near Spring Festival
    datetime(2026, 6, 1, 12, 5, tzinfo=DISTRICT_ZONE),  # lunch break
)
EXCLUSIONS: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset(),
    frozenset(),
    frozenset({"approval"}),
    frozenset({"market", "tax"}),
)
STREETS = ("李村街道", "兴城路街道", "浮山路街道", None)
PROJECTS = ("康杰药业项目", "粤浦科创", None, None, None)


def _training_texts() -> list[str]:
    path = DEFAULT_POLICY.parent / "default-training.csv"
    with path.open(encoding="utf-8") as file:
        return [row["text"] for row in csv.DictReader(file)]


def _cases() -> list[tuple[TicketSubmitted, datetime, frozenset[str], str | None]]:
    bodies: list[dict[str, object]] = []
    for i, text in enumerate(_training_texts()):
        bodies.append(
            {
                "channel_message_id": f"golden-{i:04d}",
                "text": text,
                "street": STREETS[i % len(STREETS)],
                "project_name": PROJECTS[i % len(PROJECTS)],
                "enterprise_name": "康杰药业" if i % 13 == 0 else None,
            }
        )
    bodies += [ticket_body("golden", i, 10) for i in range(200)]
    cases = []
    for i, body in enumerate(bodies):
        now = MOMENTS[i % len(MOMENTS)]
        submission = build_submission({**body, "event_id": f"golden-event-{i}"}, now)
        excluded = EXCLUSIONS[i % len(EXCLUSIONS)]
        event_id = f"reroute-{i}" if excluded else None
        cases.append((submission, now, excluded, event_id))
    return cases


@pytest.fixture(scope="module")
def model() -> TextClassifier:
    loaded = model_for(Settings(), POLICY)
    assert loaded is not None
    return loaded


def _digest(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def test_routing_decisions_are_byte_identical_to_the_recorded_ones(model: TextClassifier) -> None:
    digests = []
    for submission, now, excluded, event_id in _cases():
        routed = route_ticket(submission, POLICY, now, excluded, event_id, model)
        digests.append(_digest(routed.model_dump_json()))
    if os.environ.get("ZTC_WRITE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps({"policy": POLICY.version, "digests": digests}, indent=0) + "\n")
    recorded = json.loads(GOLDEN.read_text())
    assert recorded["policy"] == POLICY.version
    differing = [i for i, (a, b) in enumerate(zip(digests, recorded["digests"], strict=True)) if a != b]
    assert not differing, f"{len(differing)} decisions differ, first at case {differing[:5]}"
