"""Integration fixtures: a real embedded broker and Redis on free ports, started by the tests.

Each test module gets its own topic, key and group prefix, so tests never see
each other's data; services run as real ``python -m ztc ...`` processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from consumers.ticket_store import RedisTicketStore
from deploy.embedded import EmbeddedStack, free_port
from schemas.settings import Settings
from schemas.ticket import TicketRecord, TicketStatus
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    embedded = EmbeddedStack(tmp_path_factory.mktemp("stack"), free_port(), free_port())
    embedded.up()  # ready: the broker answers Kafka requests, Redis a PING with its password
    yield embedded
    embedded.down()


def default_policy_text() -> str:
    """The shipped policy's text with its model path made absolute, to save a copy elsewhere."""
    model = DEFAULT_POLICY.parent / "default-model.json"
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    return text.replace('model = "default-model.json"', f'model = "{model}"')


def escalation_ladder(supervision_after: str, notice_after: str) -> str:
    """The policy's [[sla.escalation]] tables (催办 at the breach, then 督办 and 通报), for test policies."""
    rungs = [
        (1, "reminder", "催办", "0 seconds", "department"),
        (2, "supervision", "督办", supervision_after, "office"),
        (3, "notice", "通报", notice_after, "office"),
    ]
    return "".join(
        f'\n[[sla.escalation]]\nlevel = {level}\nname = "{name}"\nlabel = "{label}"\n'
        f'after = "{after}"\nnotify = "{notify}"\n'
        for level, name, label, after, notify in rungs
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``ZTC_*`` variables that make a child process use ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZTC_")}
    for name, value in settings.model_dump(exclude_none=True).items():
        secret = isinstance(value, SecretStr)
        env[f"ZTC_{name.upper()}"] = value.get_secret_value() if secret else str(value)
    return env


def stack_settings(
    stack: EmbeddedStack, data_dir: Path, policy_text: str | None = None, **extra: Any
) -> Settings:
    """Settings for one test module on the shared stack: its own topic, key and group prefix.

    ``policy_text``: a policy to save in ``data_dir`` and use (checked here, so a typo fails early).
    """
    tag = "t" + uuid.uuid4().hex[:8]
    if policy_text is not None:
        extra["policy_path"] = data_dir / "policy.toml"
        extra["policy_path"].write_text(policy_text, encoding="utf-8")
        load_checked_policy(extra["policy_path"])
    return Settings(
        bootstrap_servers=f"127.0.0.1:{stack.broker_port}",
        redis_url=stack.redis_url,  # with the stack's password
        topic_prefix=f"{tag}.",
        redis_prefix=f"{tag}:",
        group_prefix=tag,
        data_dir=data_dir,
        api_port=free_port(),
        **extra,
    )


@pytest.fixture(scope="module")
def settings(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return stack_settings(stack, tmp_path_factory.mktemp("data"))


def ztc(settings: Settings, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real ``ztc`` command line against the test stack."""
    result = subprocess.run(
        [sys.executable, "-m", "ztc", *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"ztc {' '.join(args)} failed: {result.stderr}")
    return result


class Services:
    """Router and recorder as child processes, stopped with SIGTERM like in production."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, alias: str | None = None) -> None:
        """Start ``ztc NAME``; ``alias`` names a second copy of the same service."""
        label = alias or name
        log = open(self.log_dir / f"{label}.log", "ab")  # noqa: SIM115 - closed with the process
        self.children[label] = subprocess.Popen(
            [sys.executable, "-m", "ztc", name],
            env=settings_env(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        child = self.children.pop(name)
        child.send_signal(sig)
        child.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.children):
            self.stop(name)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def services(settings: Settings) -> Iterator[Services]:
    running = Services(settings, settings.data_dir)
    running.start("router")
    running.start("recorder")
    yield running
    running.stop_all()


@pytest.fixture(scope="module")
def store(settings: Settings) -> RedisTicketStore:
    return RedisTicketStore(redis.Redis.from_url(settings.redis), settings.redis_prefix)


def wait_for_status(
    store: RedisTicketStore, ticket_id: str, status: TicketStatus, timeout_s: float = 30
) -> TicketRecord:
    """The ticket once it is recorded in ``status``; AssertionError with what it is after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = store.get(ticket_id)
        if record is not None and record.status is status:
            return record
        time.sleep(0.1)
    raise AssertionError(f"{ticket_id} never reached {status}: {store.get(ticket_id)}")


def wait_for_log(services: Services, name: str, needle: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while needle not in services.log(name):
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not in {name} log")
        time.sleep(0.2)


WaitFor = Callable[[str, float], TicketRecord]


@pytest.fixture(scope="module")
def wait_for_ticket(store: RedisTicketStore) -> WaitFor:
    def wait(ticket_id: str, timeout_s: float = 30.0) -> TicketRecord:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            record = store.get(ticket_id)
            if record is not None:
                return record
            time.sleep(0.1)
        raise AssertionError(f"{ticket_id} was not recorded within {timeout_s}s")

    return wait
