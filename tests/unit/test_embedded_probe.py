"""Readiness checks: a LOADING Redis is not ready, a Kafka port must answer Kafka, the CLI fails fast."""

from __future__ import annotations

import argparse
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from deploy import probe
from deploy.embedded import free_port
from deploy.probe import (
    BROKER,
    REDIS,
    AccessDenied,
    Exited,
    Loading,
    NotListening,
    NotReady,
    ServiceUnavailable,
    bootstrap_addresses,
    kafka_api_versions,
    redact,
    redis_ping,
    require_servers,
    wait_ready,
)
from schemas.settings import Settings
from ztc.cli import SERVERS_NEEDED, build_parser, main


class FakeRedis:
    """Answers PING with the queued answers: an exception is raised, anything else returned."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.pings = 0

    def ping(self) -> object:
        self.pings += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def loading() -> redis.exceptions.BusyLoadingError:
    return redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory")


def test_redis_loading_its_aof_is_waited_for_until_it_answers_pong() -> None:
    client = FakeRedis(loading(), loading(), loading(), True)
    clock = FakeClock()
    wait_ready(lambda: redis_ping(client), 5.0, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert client.pings == 4


def test_redis_still_loading_at_the_deadline_is_not_ready() -> None:
    client = FakeRedis(loading())
    clock = FakeClock()
    with pytest.raises(Loading, match="LOADING"):
        wait_ready(lambda: redis_ping(client), 2.0, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert client.pings > 10 and clock.now >= 102.0


def test_a_refused_password_is_not_retried() -> None:
    client = FakeRedis(redis.exceptions.AuthenticationError("invalid username-password pair"))
    clock = FakeClock()
    with pytest.raises(AccessDenied, match="invalid username-password"):
        wait_ready(lambda: redis_ping(client), 5.0, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert client.pings == 1


def test_waiting_stops_when_the_process_exits() -> None:
    client = FakeRedis(loading())
    clock = FakeClock()
    with pytest.raises(Exited):
        wait_ready(
            lambda: redis_ping(client),  # type: ignore[arg-type]
            5.0,
            alive=lambda: client.pings < 3,
            clock=clock,
            sleep=clock.sleep,
        )
    assert client.pings == 3


def test_redis_answers_map_to_readiness() -> None:
    refused = redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
    refused.__context__ = ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(NotListening):
        redis_ping(FakeRedis(refused))  # type: ignore[arg-type]
    with pytest.raises(NotReady, match="Timeout"):
        redis_ping(FakeRedis(redis.exceptions.TimeoutError("Timeout reading from socket")))  # type: ignore[arg-type]
    with pytest.raises(NotReady, match="PING answered"):
        redis_ping(FakeRedis(False))  # type: ignore[arg-type]
    redis_ping(FakeRedis(True))  # type: ignore[arg-type]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung server, a firewall's tarpit)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield int(server.getsockname()[1])


def _serve_once(answer: bytes) -> int:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def reply() -> None:
        with server, server.accept()[0] as conn:
            conn.recv(1024)
            conn.sendall(answer)

    threading.Thread(target=reply, daemon=True).start()
    return int(server.getsockname()[1])


def test_kafka_probe_reads_an_api_versions_answer() -> None:
    body = struct.pack(">ihi", 0x5A7C, 0, 2) + struct.pack(">hhh", 0, 0, 9) + struct.pack(">hhh", 18, 0, 3)
    port = _serve_once(struct.pack(">i", len(body)) + body)
    assert kafka_api_versions("127.0.0.1", port, 1.0) == 2


def test_kafka_probe_refuses_a_port_that_does_not_speak_kafka() -> None:
    port = _serve_once(b"-ERR unknown command\r\n")
    with pytest.raises(NotReady, match="does not speak Kafka"):
        kafka_api_versions("127.0.0.1", port, 1.0)


def test_kafka_probe_of_a_closed_port_and_a_silent_one(silent_port: int) -> None:
    with pytest.raises(NotListening):
        kafka_api_versions("127.0.0.1", free_port(), 1.0)
    started = time.monotonic()
    with pytest.raises(NotReady, match="no answer"):
        kafka_api_versions("127.0.0.1", silent_port, 0.2)
    assert time.monotonic() - started < 1.0


def embedded(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, broker_port=free_port(), redis_port=free_port())


def test_stopped_embedded_servers_are_one_line_each_at_once(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as broker:
        require_servers(settings, {BROKER, REDIS}, f"redis://127.0.0.1:{settings.redis_port}/0")
    with pytest.raises(ServiceUnavailable) as store:
        require_servers(settings, {REDIS}, f"redis://127.0.0.1:{settings.redis_port}/0")
    assert time.monotonic() - started < 1.0
    assert str(broker.value) == (
        f"嵌入式消息代理未运行 the embedded broker (127.0.0.1:{settings.broker_port}) is not running; "
        "start ZTC with `make run` or `ztc dev up`"
    )
    assert str(store.value) == (
        f"嵌入式 Redis 未运行 the embedded Redis (127.0.0.1:{settings.redis_port}) is not running; "
        "start ZTC with `make run` or `ztc dev up`"
    )


def test_external_servers_that_do_not_answer_are_named(
    monkeypatch: pytest.MonkeyPatch, silent_port: int
) -> None:
    monkeypatch.setattr(probe, "EXTERNAL_TIMEOUT_S", 0.3)
    url = f"redis://:secret@127.0.0.1:{silent_port}/0"
    settings = Settings(bootstrap_servers=f"127.0.0.1:{silent_port}", redis_url=url)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=rf"Kafka \(127.0.0.1:{silent_port}\) 无响应") as kafka:
        require_servers(settings, {BROKER}, url)
    with pytest.raises(ServiceUnavailable, match=r"Redis \(redis://:\*\*\*@127.0.0.1") as store:
        require_servers(settings, {REDIS}, url)
    assert time.monotonic() - started < 2.0
    assert "ZTC_BOOTSTRAP_SERVERS" in str(kafka.value) and "ZTC_REDIS_URL" in str(store.value)
    assert "secret" not in str(store.value)


def test_addresses_and_urls_fit_to_print() -> None:
    assert bootstrap_addresses("kafka-1:9092, PLAINTEXT://kafka-2:19092,kafka-3,[::1]:9093") == [
        ("kafka-1", 9092),
        ("kafka-2", 19092),
        ("kafka-3", 9092),
        ("::1", 9093),
    ]
    assert redact("redis://:pw@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert redact("rediss://app:pw@redis.internal/1") == "rediss://app:***@redis.internal/1"
    assert redact("redis://redis:6379/0") == "redis://redis:6379/0"


def test_every_command_says_which_servers_it_needs() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(SERVERS_NEEDED)


@pytest.mark.parametrize(
    ("argv", "needs"),
    [
        (["submit", "--text", "x"], {BROKER, REDIS}),
        (["accept", "ZTC-1", "--as", "approval"], {BROKER, REDIS}),
        (["inbox", "approval"], {REDIS}),
        (["deadletter"], {REDIS}),
        (["deadletter", "replay", "abc"], {BROKER, REDIS}),
        (["monitor", "--once"], {REDIS}),
        (["monitor", "--once", "--apply"], {BROKER, REDIS}),
        (["monitor"], set()),
        (["route", "--explain", "--text", "x"], set()),
        (["api", "spec"], set()),
    ],
)
def test_which_commands_are_probed(argv: list[str], needs: set[str]) -> None:
    args = build_parser().parse_args(argv)
    needed = SERVERS_NEEDED[args.command]
    assert set(needed(args) if callable(needed) else needed) == needs


def test_cli_says_in_one_line_that_the_stack_is_down(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broker_port = free_port()
    for name, value in {
        "ZTC_DATA_DIR": str(tmp_path),
        "ZTC_BROKER_PORT": str(broker_port),
        "ZTC_REDIS_PORT": str(free_port()),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("ZTC_BOOTSTRAP_SERVERS", "ZTC_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    started = time.monotonic()
    code = main(["submit", "--text", "厂房消防验收没通过"])
    err = capsys.readouterr().err
    assert time.monotonic() - started < 2.0
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"错误 / error: 嵌入式消息代理未运行 the embedded broker (127.0.0.1:{broker_port})")
