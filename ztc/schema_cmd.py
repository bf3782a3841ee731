"""``ztc schema export DIR``: the wire contract as files, for channels and consumers written elsewhere.

Writes one JSON Schema per event type (every concrete event of ``schemas``,
from ``schemas.catalog.event_types``) as ``<EventType>.schema.json``, and
``topics.json``: every topic of this installation (with ``ZTC_TOPIC_PREFIX``
and the policy's departments) and the event types that travel on it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from schemas.catalog import event_types, topic_events
from schemas.events import SCHEMA_VERSION, Event
from schemas.settings import Settings
from ztc.bootstrap import policy_for

TOPICS_FILE = "topics.json"


def schema_file(event: type[Event]) -> str:
    return f"{event.event_type}.schema.json"


def event_schema(event: type[Event]) -> dict[str, Any]:
    schema = event.model_json_schema()
    schema["$id"] = f"ztc:{event.event_type}"
    return schema


def topic_map(settings: Settings, department_codes: tuple[str, ...]) -> dict[str, Any]:
    """``topics.json``: each topic and the event types (and their schema files) it carries."""
    carried = topic_events(settings.topics, department_codes)
    return {
        "topic_prefix": settings.topic_prefix,
        "schema_version": SCHEMA_VERSION,
        "topics": {name: [event.event_type for event in events] for name, events in carried.items()},
        "events": {event.event_type: schema_file(event) for event in event_types()},
    }


def _write(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def export(settings: Settings, directory: Path) -> list[Path]:
    """Write every event's schema and the topic map into ``directory``; the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event in event_types():
        written.append(directory / schema_file(event))
        _write(written[-1], event_schema(event))
    written.append(directory / TOPICS_FILE)
    _write(written[-1], topic_map(settings, policy_for(settings).department_codes))
    return written


def schema_export(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    written = export(args.settings, directory)
    for path in written:
        print(f"已写入 wrote {path}")
    events = len(written) - 1
    print(f"共 {events} 个事件 schema 和主题表 / {events} event schemas and {TOPICS_FILE} in {directory}")
    return 0


def add_schema_parser(sub: Any) -> None:
    """Register ``ztc schema export DIR``."""
    help_text = "事件 JSON Schema 与主题表 event schemas + topic map: export DIR"
    parser: argparse.ArgumentParser = sub.add_parser("schema", help=help_text, description=help_text)
    parser.add_argument("action", choices=["export"])
    parser.add_argument("directory", type=Path, help="输出目录 output directory")
    parser.set_defaults(func=schema_export)
