"""The offline API reference at ``/docs``: the OpenAPI document as one server-rendered page.

Enum fields show their values (``not_our_remit | wrong_street | …``) with their Chinese labels
where the enum has them, and docstrings' reStructuredText ``code`` is shown as code, not as
doubled backticks (the document itself carries Markdown backticks, which OpenAPI tools render).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from schemas.events import Channel, Priority
from schemas.feedback import BounceReason, Rating
from schemas.sla import SlaStage
from schemas.ticket import TicketStatus

_RST_CODE = re.compile(r"``(.+?)``", re.DOTALL)
_MD_CODE = re.compile(r"`([^`]+?)`")
LABELLED: tuple[type[Enum], ...] = (BounceReason, Channel, Priority, Rating, SlaStage, TicketStatus)
VALUE_LABELS: dict[tuple[str, str], str] = {
    (enum.__name__, str(member.value)): str(getattr(member, "label", ""))
    for enum in LABELLED
    for member in enum
}


def markdown_code(document: Any) -> Any:
    """The document with every ````code```` in a ``description`` as Markdown's `code`."""
    if isinstance(document, dict):
        return {
            key: _RST_CODE.sub(r"`\1`", value)
            if key == "description" and isinstance(value, str)
            else markdown_code(value)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [markdown_code(item) for item in document]
    return document


def as_html(text: str | None) -> Markup:
    """Description text, escaped, with `code` (or a left-over ````code````) as <code>."""
    escaped = str(escape(_RST_CODE.sub(r"`\1`", text or "")))
    return Markup(_MD_CODE.sub(r"<code>\1</code>", escaped))


def field_type(field: Mapping[str, Any], schemas: Mapping[str, Any]) -> str:
    """A property's type for people: an enum's values (with labels), ``array of X``, ``A | B``."""
    if "$ref" in field:
        name = str(field["$ref"]).rsplit("/", 1)[-1]
        target = schemas.get(name, {})
        if "enum" in target:
            shown = [
                f"{v}（{VALUE_LABELS[(name, str(v))]}）" if VALUE_LABELS.get((name, str(v))) else str(v)
                for v in target["enum"]
            ]
            return f"{name}: " + " | ".join(shown)
        return name
    if "enum" in field:
        return " | ".join(str(v) for v in field["enum"])
    if "const" in field:
        return str(field["const"])
    if "anyOf" in field:
        return " | ".join(field_type(option, schemas) for option in field["anyOf"])
    if field.get("type") == "array" and isinstance(field.get("items"), dict):
        return f"array of {field_type(field['items'], schemas)}"
    return str(field.get("type", ""))


def docs_page(app: FastAPI, templates_dir: Path) -> Callable[[Request], HTMLResponse]:
    """An offline, server-rendered API reference (no CDN): the OpenAPI document as HTML."""
    templates = Jinja2Templates(directory=str(templates_dir))
    templates.env.filters["doc"] = as_html

    def docs(request: Request) -> HTMLResponse:
        spec = app.openapi()
        schemas = spec.get("components", {}).get("schemas", {})

        def example(ref: dict[str, Any]) -> str:
            name = str(ref.get("$ref", "")).rsplit("/", 1)[-1]
            found = schemas.get(name, {}).get("examples") or ref.get("examples") or []
            return json.dumps(found[0], ensure_ascii=False, indent=2) if found else ""

        context = {"spec": spec, "example": example, "type_of": lambda f: field_type(f, schemas)}
        return templates.TemplateResponse(request, "docs.html", context)

    return docs
