"""``ztc schema export`` writes a schema for every event type and a map of every topic."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import pytest

import schemas
from schemas.catalog import event_types, topic_events
from schemas.events import EVENT_TYPES, Event
from schemas.feedback import FEEDBACK_EVENT_TYPES
from schemas.settings import Settings
from schemas.sla import SLA_EVENT_TYPES
from schemas.topics import Topics
from ztc.bootstrap import policy_for
from ztc.cli import main

PREFIX = "test7."


def leaf_events() -> set[type[Event]]:
    """Every event class of ``schemas`` that nothing in ``schemas`` derives from, found by walking."""
    for module in pkgutil.iter_modules(schemas.__path__):
        importlib.import_module(f"schemas.{module.name}")
    seen: set[type[Event]] = set()
    todo: list[type[Event]] = [Event]
    while todo:
        cls = todo.pop()
        subs = [s for s in cls.__subclasses__() if s.__module__.startswith("schemas.")]
        if not subs and cls is not Event:
            seen.add(cls)
        todo += subs
    return seen


def test_the_catalogue_has_every_event_class_once() -> None:
    found = event_types()
    assert set(found) == leaf_events()
    assert {*EVENT_TYPES, *FEEDBACK_EVENT_TYPES, *SLA_EVENT_TYPES} <= set(found)
    assert len({cls.event_type for cls in found}) == len(found) >= 20


def test_every_topic_carries_known_events_and_every_event_travels() -> None:
    topics = Topics(prefix=PREFIX)
    carried = topic_events(topics, ("office", "approval"))
    assert list(carried) == list(topics.all(("office", "approval")))
    travelling = {event for events in carried.values() for event in events}
    assert travelling == set(event_types())


@pytest.fixture
def exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str]:
    """``ztc schema export DIR`` run once through the CLI, with a topic prefix."""
    monkeypatch.setenv("ZTC_TOPIC_PREFIX", PREFIX)
    target = tmp_path / "contract"
    assert main(["schema", "export", str(target)]) == 0
    return target, capsys.readouterr().out


def test_the_export_has_a_schema_per_event_and_every_topic(exported: tuple[Path, str]) -> None:
    target, out = exported
    for cls in leaf_events():
        schema = json.loads((target / f"{cls.event_type}.schema.json").read_text(encoding="utf-8"))
        assert schema["$id"] == f"ztc:{cls.event_type}"
        assert schema["properties"]["type"]["const"] == cls.event_type
        assert {"ticket_id", "occurred_at"} <= set(schema["properties"])
    document = json.loads((target / "topics.json").read_text(encoding="utf-8"))
    settings = Settings(topic_prefix=PREFIX)
    assert document["topic_prefix"] == PREFIX
    assert set(document["topics"]) == set(settings.topics.all(policy_for(settings).department_codes))
    assert document["topics"][f"{PREFIX}tickets.sla"] == ["SlaWarning", "SlaBreached", "SlaEscalated"]
    for names in document["topics"].values():
        assert all((target / document["events"][name]).is_file() for name in names)
    lines = out.splitlines()
    assert len(lines) == len(leaf_events()) + 2 and all(
        line.startswith("已写入 wrote ") for line in lines[:-1]
    )
    assert "event schemas and topics.json" in lines[-1]
