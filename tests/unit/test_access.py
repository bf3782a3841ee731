"""Unit tests for API keys (hashed, rotated by editing the file) and the dashboard's session tokens."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI

from consumers.access import (
    KeyRing,
    KeysFile,
    entry_for,
    keys_toml,
    match,
    new_key,
    parse_keys,
    principal_dependency,
    write_demo_keys,
)
from schemas.events import DISTRICT_ZONE
from schemas.principals import Principal, Scope

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=DISTRICT_ZONE)


def write(path: Path, text: str, bump_ns: int = 0) -> None:
    path.write_text(text, encoding="utf-8")
    stamp = 1_800_000_000_000_000_000 + bump_ns
    os.utime(path, ns=(stamp, stamp))


def test_a_key_matches_only_its_own_entry_and_is_not_stored() -> None:
    key = new_key()
    entry = entry_for(key, "dept-approval", Scope.department, department="approval")
    assert key not in entry.model_dump_json()
    other = entry_for(new_key(), "dept-planning", Scope.department, department="planning")
    assert match([other, entry], key, NOW) == Principal("dept-approval", Scope.department, None, "approval")
    assert match([other, entry], key + "x", NOW) is None
    assert match([], key, NOW) is None


def test_the_same_key_hashes_differently_under_each_salt() -> None:
    key = new_key()
    first = entry_for(key, "a", Scope.channel, channel="web_form")
    second = entry_for(key, "a", Scope.channel, channel="web_form")
    assert first.sha256 != second.sha256


def test_an_expired_key_is_refused() -> None:
    key = new_key()
    entry = entry_for(key, "old", Scope.channel, channel="api").model_copy(update={"expires_at": NOW})
    assert match([entry], key, NOW - timedelta(seconds=1)) is not None
    assert match([entry], key, NOW) is None


def test_office_principal() -> None:
    assert Principal("o", Scope.department, department="office").is_office
    assert not Principal("a", Scope.department, department="approval").is_office
    assert not Principal("c", Scope.channel, channel="office").is_office


def test_keys_file_round_trips_as_toml_and_json() -> None:
    entries = (entry_for(new_key(), "dept-office", Scope.department, department="office"),)
    assert parse_keys(keys_toml(entries).encode(), ".toml").keys == entries
    as_json = json.dumps(KeysFile(keys=entries).model_dump(mode="json")).encode()
    assert parse_keys(as_json, ".json").keys == entries


def test_a_broken_keys_file_says_where_without_echoing_values() -> None:
    with pytest.raises(ValueError, match=r"keys\.0\.sha256") as info:
        parse_keys(
            b'[[keys]]\nname = "x"\nscope = "channel"\nsalt = "0123456789abcdef"\nsha256 = "ztc_secret"\n', ""
        )
    assert "ztc_secret" not in str(info.value)
    with pytest.raises(ValueError, match="unreadable"):
        parse_keys(b"[[keys", ".toml")


def test_rotation_without_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    old, new = new_key(), new_key()
    write(path, keys_toml([entry_for(old, "web", Scope.channel, channel="web_form")]))
    ring = KeyRing(path)
    assert ring.authenticate(old, NOW) is not None
    write(path, keys_toml([entry_for(new, "web", Scope.channel, channel="web_form")]), bump_ns=1_000_000)
    assert ring.authenticate(old, NOW) is None
    assert ring.authenticate(new, NOW) is not None


def test_a_bad_edit_keeps_the_last_good_keys(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "keys.toml"
    key = new_key()
    write(path, keys_toml([entry_for(key, "web", Scope.channel, channel="web_form")]))
    ring = KeyRing(path)
    assert ring.authenticate(key, NOW) is not None
    write(path, "[[keys]\n", bump_ns=1_000_000)
    with caplog.at_level(logging.WARNING):
        assert ring.authenticate(key, NOW) is not None
    assert "keeping the last keys" in caplog.text
    assert ring.authenticate(None, NOW) is None and ring.authenticate("", NOW) is None


def test_no_keys_file_means_no_access(tmp_path: Path) -> None:
    assert KeyRing(tmp_path / "missing.toml").authenticate(new_key(), NOW) is None
    assert KeyRing(None).authenticate(new_key(), NOW) is None


def test_demo_keys_file_holds_hashes_only(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "keys.toml"
    plain = write_demo_keys(path, ("office", "approval"))
    assert set(plain) == {
        "dept-office",
        "dept-approval",
        "channel-web_form",
        "channel-wechat_group",
        "channel-api",
    }
    text = path.read_text("utf-8")
    assert all(key not in text for key in plain.values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = KeyRing(path)
    office = ring.authenticate(plain["dept-office"], NOW)
    assert office is not None and office.is_office
    web = ring.authenticate(plain["channel-web_form"], NOW)
    assert web is not None and (web.scope, web.channel) == (Scope.channel, "web_form")


def test_a_401_never_logs_the_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "keys.toml"
    good = new_key()
    write(path, keys_toml([entry_for(good, "web", Scope.channel, channel="web_form")]))
    app = FastAPI()
    who = principal_dependency(KeyRing(path), lambda: NOW)

    @app.get("/who")
    def whoami(principal: Principal = Depends(who)) -> dict[str, str]:  # noqa: B008
        return {"name": principal.name}

    wrong = new_key()

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [
                await client.get("/who", headers={"X-API-Key": wrong}),
                await client.get("/who"),
                await client.get("/who", headers={"X-API-Key": good}),
            ]

    with caplog.at_level(logging.DEBUG):
        refused, missing, allowed = asyncio.run(calls())
    assert (refused.status_code, missing.status_code, allowed.status_code) == (401, 401, 200)
    assert refused.headers["www-authenticate"] == "ApiKey"
    assert allowed.json() == {"name": "web"}
    assert "401" in caplog.text
    assert wrong not in caplog.text and good not in caplog.text
    assert wrong not in refused.text
