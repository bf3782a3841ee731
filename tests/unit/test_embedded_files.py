"""The embedded Redis password: made once, private, never on a command line, in every default URL."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from deploy.embedded import CONFIG_FILE, PASSWORD_FILE, EmbeddedStack, free_port
from schemas.settings import Settings
from ztc.bootstrap import redis_url


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_makes_a_private_password_and_config(tmp_path: Path) -> None:
    data_dir = tmp_path / "ztc"
    (data_dir / "redis").mkdir(parents=True)
    (data_dir / "redis" / "appendonly.aof").write_text("")  # an AOF from before, world-readable
    (data_dir / "redis" / "appendonly.aof").chmod(0o644)
    stack = EmbeddedStack(data_dir, free_port(), free_port())
    stack._prepare()
    password = (data_dir / PASSWORD_FILE).read_text().strip()
    assert len(password) >= 32
    assert f"requirepass {password}\n" in (data_dir / CONFIG_FILE).read_text()
    assert mode(data_dir) == mode(data_dir / "redis") == mode(data_dir / "logs") == 0o700
    assert mode(data_dir / PASSWORD_FILE) == mode(data_dir / CONFIG_FILE) == 0o600
    assert mode(data_dir / "redis" / "appendonly.aof") == 0o600
    assert stack.redis_url == f"redis://:{password}@127.0.0.1:{stack.redis_port}/0"


def test_the_password_is_kept_across_starts_and_stays_off_the_command_line(tmp_path: Path) -> None:
    stack = EmbeddedStack(tmp_path, free_port(), free_port())
    stack._prepare()
    first = stack.redis_url
    (tmp_path / PASSWORD_FILE).chmod(0o644)
    stack._prepare()
    assert stack.redis_url == first and mode(tmp_path / PASSWORD_FILE) == 0o600
    command = stack._command(stack._service("redis"))
    assert command[1] == str(tmp_path.resolve() / CONFIG_FILE)
    password = (tmp_path / PASSWORD_FILE).read_text().strip()
    assert not any(password in part for part in command)


def test_default_connections_carry_the_password_and_a_configured_url_is_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, redis_port=16400)
    assert redis_url(settings) == "redis://127.0.0.1:16400/0"  # before the first start
    EmbeddedStack(tmp_path, free_port(), 16400)._prepare()
    password = (tmp_path / PASSWORD_FILE).read_text().strip()
    assert redis_url(settings) == f"redis://:{password}@127.0.0.1:16400/0"
    external = Settings(data_dir=tmp_path, redis_url="redis://redis.internal:6379/0")
    assert redis_url(external) == "redis://redis.internal:6379/0"


def test_health_of_a_stack_that_is_not_running_is_quick(tmp_path: Path) -> None:
    stack = EmbeddedStack(tmp_path, free_port(), free_port())
    started = time.monotonic()
    assert stack.health() == {"broker": False, "redis": False}
    assert time.monotonic() - started < 0.1
    with pytest.raises(ValueError, match="no embedded service 'kafka'"):
        stack.restart("kafka")
