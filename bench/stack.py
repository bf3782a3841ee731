"""An isolated embedded stack for the bench: a Tansu broker and Redis on free ports in a data dir of its own.

Each measurement gets fresh topic and key prefixes (``fresh``) so repetitions
never read each other's messages; workers (``python -m ztc router`` ...) and
the bare pipe run as child processes with the stack's environment, as
``ztc run`` would start them. ``cpu_seconds`` reads a process's user + system
time from /proc, so a stage can say what each message cost the broker.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from deploy.embedded import EmbeddedStack, die_with_parent, free_port
from deploy.topics import ensure_topics
from schemas.policy import RoutingPolicy
from schemas.settings import Settings
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy, redis_client

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CHECKOUT = Path(__file__).resolve().parents[1]
"""children run in the data dir: ``bench`` (not installed) is found through PYTHONPATH"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class BenchStack:
    """Broker + Redis under ``data_dir``; ``settings()`` for one measurement's prefixes."""

    def __init__(self, data_dir: Path, policy_path: Path = DEFAULT_POLICY) -> None:
        self.data_dir = data_dir.resolve()
        self.policy_path = policy_path
        self.policy: RoutingPolicy = load_checked_policy(policy_path)
        self.stack = EmbeddedStack(self.data_dir, free_port(), free_port(), tied_to_parent=True)
        self._serial = itertools.count(1)
        self.children: list[subprocess.Popen[bytes]] = []

    def up(self) -> float:
        """Start broker and Redis; seconds until both answer."""
        began = time.monotonic()
        self.stack.up()
        return time.monotonic() - began

    def down(self) -> None:
        for child in self.children:
            stop(child)
        self.children.clear()
        self.stack.down()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.stack.broker_port}"

    def broker_pid(self) -> int:
        return int((self.data_dir / "broker.pid").read_text().strip())

    def env(self, tag: str) -> dict[str, str]:
        """``ZTC_*`` variables of one measurement: this stack, its own topic, key and group prefixes."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZTC_")}
        path = os.pathsep.join(p for p in (str(CHECKOUT), env.get("PYTHONPATH", "")) if p)
        return env | {
            "PYTHONPATH": path,
            "ZTC_DATA_DIR": str(self.data_dir),
            "ZTC_BROKER_PORT": str(self.stack.broker_port),
            "ZTC_REDIS_PORT": str(self.stack.redis_port),
            "ZTC_POLICY_PATH": str(self.policy_path),
            "ZTC_TOPIC_PREFIX": f"{tag}.",
            "ZTC_REDIS_PREFIX": f"{tag}:",
            "ZTC_GROUP_PREFIX": tag,
        }

    def fresh(self, name: str, partitions: int = 3) -> tuple[Settings, dict[str, str]]:
        """Settings and environment for a new measurement, with every ZTC topic created (3 partitions)."""
        tag = f"b{next(self._serial)}{name}"
        env = self.env(tag) | {"ZTC_PARTITIONS": str(partitions)}
        settings = Settings.from_env(env)
        ensure_topics(self.bootstrap, settings.topics.all(self.policy.department_codes), settings.partitions)
        return settings, env

    def topics(self, *names: str, partitions: int = 3) -> None:
        ensure_topics(self.bootstrap, names, partitions)

    def redis(self, settings: Settings) -> redis.Redis:
        return redis_client(settings)

    def spawn(self, argv: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
        """A child process (its output in the data dir's logs), stopped by ``down`` at the latest."""
        log_path = self.data_dir / "logs" / f"{log_name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            child = subprocess.Popen(
                argv,
                env=env,
                cwd=self.data_dir,  # Faust writes its data dir here
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.children.append(child)
        return child

    def worker(self, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return self.spawn([sys.executable, "-m", "ztc", name], env, f"{name}-{env['ZTC_GROUP_PREFIX']}")


def stop(child: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM a child we started, SIGKILL it if it does not stop in time."""
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)
