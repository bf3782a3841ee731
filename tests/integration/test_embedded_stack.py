"""The embedded stack for real: ready means ready, Redis is private, a dead server comes back.

Each test starts its own stack on free ports (killing servers would disturb the
shared one); a stack starts in well under a second.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from deploy.embedded import PASSWORD_FILE, EmbeddedStack, free_port
from deploy.probe import kafka_api_versions

pytestmark = pytest.mark.integration

AOF_COMMANDS = 300_000
"""About 10 MB of AOF: Redis needs a few hundred milliseconds to load it, answering LOADING meanwhile."""


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[EmbeddedStack]:
    stack = EmbeddedStack(tmp_path / "ztc", free_port(), free_port(), tied_to_parent=True)
    yield stack
    stack.down()


def no_retry_client(url: str) -> redis.Redis:
    """A client that shows LOADING instead of retrying it away, as redis-py does by default."""
    return redis.Redis.from_url(url, socket_timeout=2, retry=Retry(NoBackoff(), 0))


def write_aof(path: Path, count: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sets = b"".join(b"*3\r\n$3\r\nSET\r\n$8\r\nk%07d\r\n$1\r\nv\r\n" % i for i in range(count))
    path.write_bytes(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n" + sets)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_up_returns_only_once_redis_has_loaded_its_aof(own_stack: EmbeddedStack) -> None:
    write_aof(own_stack.data_dir / "redis" / "appendonly.aof", AOF_COMMANDS)
    own_stack.up()
    client = no_retry_client(own_stack.redis_url)
    assert client.ping() is True  # not BusyLoadingError
    assert client.dbsize() == AOF_COMMANDS
    assert kafka_api_versions("127.0.0.1", own_stack.broker_port, 1.0) > 0


def test_redis_wants_the_password_and_its_files_are_private(own_stack: EmbeddedStack) -> None:
    own_stack.up()
    data_dir = own_stack.data_dir
    password = (data_dir / PASSWORD_FILE).read_text().strip()
    assert own_stack.redis_url == f"redis://:{password}@127.0.0.1:{own_stack.redis_port}/0"
    with pytest.raises(redis.AuthenticationError):
        no_retry_client(f"redis://127.0.0.1:{own_stack.redis_port}/0").ping()
    client = no_retry_client(own_stack.redis_url)
    client.set("ztc:probe", "1")
    assert client.get("ztc:probe") == b"1"
    redis_pid = int((data_dir / "redis.pid").read_text())
    assert password.encode() not in Path(f"/proc/{redis_pid}/cmdline").read_bytes()
    assert mode(data_dir) == mode(data_dir / "redis") == 0o700
    files = [data_dir / name for name in ("redis.pid", "broker.pid", "redis.conf", PASSWORD_FILE)]
    files += [data_dir / "logs" / "redis.log", data_dir / "logs" / "broker.log"]
    files += [path for path in (data_dir / "redis").rglob("*") if path.is_file()]
    assert files[-1].name.startswith("appendonly")
    assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
    url = own_stack.redis_url
    assert own_stack.up() == [] and own_stack.redis_url == url  # a second `up` keeps the password


def test_health_notices_a_dead_redis_and_restart_brings_it_back_with_its_data(
    own_stack: EmbeddedStack,
) -> None:
    own_stack.up()
    no_retry_client(own_stack.redis_url).set("ztc:kept", "yes")
    started = time.monotonic()
    assert own_stack.health() == {"broker": True, "redis": True}
    assert time.monotonic() - started < 1.0  # two local connects, not a client's retry timeout
    old_pid = int((own_stack.data_dir / "redis.pid").read_text())
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 2
    while own_stack.health()["redis"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert own_stack.health() == {"broker": True, "redis": False}
    own_stack.restart("redis")
    assert own_stack.health() == {"broker": True, "redis": True}
    assert int((own_stack.data_dir / "redis.pid").read_text()) != old_pid
    assert no_retry_client(own_stack.redis_url).get("ztc:kept") == b"yes"


def test_restart_replaces_a_hung_redis_and_a_dead_broker(own_stack: EmbeddedStack) -> None:
    own_stack.up()
    write = no_retry_client(own_stack.redis_url)
    write.set("ztc:kept", "yes")
    os.kill(int((own_stack.data_dir / "redis.pid").read_text()), signal.SIGSTOP)
    assert own_stack.health()["redis"] is False  # alive, but does not answer
    own_stack.restart("redis", timeout_s=10)
    assert no_retry_client(own_stack.redis_url).get("ztc:kept") == b"yes"
    os.kill(int((own_stack.data_dir / "broker.pid").read_text()), signal.SIGKILL)
    own_stack.restart("broker")
    assert own_stack.health() == {"broker": True, "redis": True}


def test_kafka_commands_say_at_once_that_the_stack_is_down(tmp_path: Path) -> None:
    broker_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZTC_")}
    env |= {
        "ZTC_DATA_DIR": str(tmp_path),
        "ZTC_BROKER_PORT": str(broker_port),
        "ZTC_REDIS_PORT": str(free_port()),
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "ztc", "submit", "--text", "我们的特种设备电梯年检一直约不上"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.strip() == (
        f"错误 / error: 嵌入式消息代理未运行 the embedded broker (127.0.0.1:{broker_port}) is not running; "
        "start ZTC with `make run` or `ztc dev up`"
    )
    # "at once": far under any client timeout (kafka-python's is tens of seconds); the bound leaves
    # room for Python starting up on a loaded 2-core machine (about a second when it is quiet)
    assert elapsed < 10.0, f"took {elapsed:.1f}s"


def test_an_external_kafka_that_does_not_answer_is_named_within_seconds(tmp_path: Path) -> None:
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZTC_")}
        env |= {"ZTC_DATA_DIR": str(tmp_path), "ZTC_BOOTSTRAP_SERVERS": address}
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "ztc", "import", os.devnull],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"错误 / error: Kafka ({address}) 无响应 did not answer within 3s")
    assert elapsed < 15.0, f"took {elapsed:.1f}s"  # the 3 s probe, not a client's default timeout
