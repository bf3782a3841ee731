"""The web edge refuses hostile JSON with 422 on every route, before any parser can crash on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from consumers.access import KeyRing, write_demo_keys
from schemas.settings import Settings
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy
from ztc.web_app import create_app

POLICY = load_checked_policy(DEFAULT_POLICY)

HOSTILE = {
    "deep": b"[" * 30_000 + b"]" * 30_000,
    "deep object": b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    "huge number": b'{"text": "x", "n": ' + b"9" * 5_000 + b"}",
    "huge float": b'{"text": 1.' + b"5" * 5_000 + b"}",
    "NaN": b'{"text": NaN}',
    "not utf-8": b'{"text": "\xff\xfe"}',
    "truncated": b'{"text": "abc',
    "lone surrogate": b'{"actor": "\\ud800", "reason": "not_our_remit", "note": "x"}',
}


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, dict[str, str]]:
    keys_file: Path = tmp_path_factory.mktemp("keys") / "keys.toml"
    keys = write_demo_keys(keys_file, POLICY.department_codes)
    unreachable = Settings(redis_url="redis://127.0.0.1:1/0", bootstrap_servers="127.0.0.1:1")
    return TestClient(create_app(unreachable, POLICY, KeyRing(keys_file))), keys


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/api/tickets", "channel-web_form"),
        ("/api/robot/callback", "channel-wechat_group"),
        ("/api/tickets/ZTC-20261128-00000000/accept", "dept-approval"),
    ],
)
def test_hostile_json_is_a_clear_422_on_every_route(
    http: tuple[TestClient, dict[str, str]], path: str, key: str, body: bytes
) -> None:
    client, keys = http
    headers = {"X-API-Key": keys[key], "Content-Type": "application/json"}
    answer = client.post(path, content=body, headers=headers)
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["body"] and problem["msg"]


@pytest.mark.parametrize("value", [" ", "\t", ""])
def test_a_blank_idempotency_key_is_refused(http: tuple[TestClient, dict[str, str]], value: str) -> None:
    client, keys = http
    answer = client.post(
        "/api/tickets",
        json={"text": "我们想办理食品经营许可证"},
        headers={"X-API-Key": keys["channel-web_form"], "Idempotency-Key": value},
    )
    assert answer.status_code == 422, answer.text
    assert any(p["loc"] == ["header", "Idempotency-Key"] for p in answer.json()["detail"])


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "image/png"])
def test_an_api_body_that_is_not_json_is_a_415_not_a_crash(
    http: tuple[TestClient, dict[str, str]], content_type: str
) -> None:
    client, keys = http
    headers = {"X-API-Key": keys["dept-approval"], "Content-Type": content_type}
    answer = client.post("/api/tickets/ZTC-20261128-00000000/bounce", content=b"N\xf7\x00", headers=headers)
    assert answer.status_code == 415, answer.text


def test_validation_problems_are_answered_in_chinese_with_the_english_beside(
    http: tuple[TestClient, dict[str, str]],
) -> None:
    client, keys = http
    headers = {"X-API-Key": keys["channel-web_form"]}
    answer = client.post("/api/tickets", json={"text": "", "credit_code": "123"}, headers=headers)
    assert answer.status_code == 422
    said = [(tuple(p["loc"]), p["msg"]) for p in answer.json()["detail"]]
    assert (("body", "text"), "诉求内容 text: 必填 is required") in said  # "" is no value
    assert (("body", "credit_code"), "统一社会信用代码 credit_code: 格式不对 wrong format") in said
    dept = {"X-API-Key": keys["dept-approval"]}
    framework = client.post(
        "/api/tickets/ZTC-20261128-00000000/accept",
        params={"wait_s": "soon"},
        json={"actor": "王"},
        headers=dept,
    )
    assert framework.status_code == 422  # FastAPI's own RequestValidationError, through the same words
    [problem] = framework.json()["detail"]
    assert problem["loc"] == ["query", "wait_s"] and problem["msg"].startswith(
        "wait_s: 应为数字 expected a number"
    )
