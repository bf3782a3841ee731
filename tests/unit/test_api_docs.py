"""``/docs`` shows enum values with their Chinese labels and no raw reStructuredText backticks."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from consumers.access import KeyRing
from consumers.api_docs import as_html, field_type, markdown_code
from schemas.settings import Settings
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy
from ztc.web_app import create_app


def app_client(tmp_path: Path) -> TestClient:
    unreachable = Settings(redis_url="redis://127.0.0.1:1/0", bootstrap_servers="127.0.0.1:1")
    return TestClient(
        create_app(unreachable, load_checked_policy(DEFAULT_POLICY), KeyRing(tmp_path / "k.toml"))
    )


def test_the_docs_page_lists_enum_values_and_renders_code(tmp_path: Path) -> None:
    http = app_client(tmp_path)
    page = http.get("/docs").text
    assert "``" not in page
    assert "not_our_remit（非本部门职责）" in page and "wrong_street" in page  # BounceIn.reason
    assert "satisfied" in page and "wechat_group（企业服务群）" in page
    document = http.get("/openapi.json").text
    assert "``" not in document


def test_field_types_and_descriptions() -> None:
    schemas = {"Color": {"type": "string", "enum": ["red", "blue"]}}
    assert field_type({"$ref": "#/components/schemas/Color"}, schemas) == "Color: red | blue"
    assert field_type({"anyOf": [{"$ref": "#/components/schemas/Color"}, {"type": "null"}]}, schemas) == (
        "Color: red | blue | null"
    )
    assert field_type({"type": "array", "items": {"type": "string"}}, schemas) == "array of string"
    assert str(as_html("the ``ticket_id`` <b>")) == "the <code>ticket_id</code> &lt;b&gt;"
    assert markdown_code({"a": [{"description": "x ``y`` z", "title": "``t``"}]}) == {
        "a": [{"description": "x `y` z", "title": "``t``"}]
    }
    assert not re.search("``", str(as_html("``a`` and `b`")))
