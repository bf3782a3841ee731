"""How ``ztc run`` keeps its services: child processes started, held, released, restarted and stopped.

Kept apart from ``ztc.services`` (the workers' code) so that ``ztc run`` can start its
children before it has imported anything heavy: the router spends a second or more
importing Faust and loading its model, and that now overlaps with the embedded stack
coming up (``hold``: the child loads, then waits for one line on its stdin).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import IO, Protocol

from deploy.embedded import EmbeddedStack, ServiceStatus, StackError, die_with_parent
from schemas.policy import RoutingPolicy
from schemas.settings import Settings

log = logging.getLogger(__name__)

RELEASE_LINE = b"go\n"


def stop_on_signals(
    signums: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM), name: str | None = None
) -> threading.Event:
    """An event set when one of ``signums`` arrives.

    The handler does not set the event itself: a handler runs in the main thread between two
    bytecodes, possibly while that thread is inside ``stop.wait()`` holding the event's lock, and
    ``Event.set`` there waits for ever on a lock its own thread holds (``ztc run`` once hung so
    after Ctrl-C). A short-lived thread sets it as soon as the main thread lets go of the lock.
    """
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if name is not None:
            log.info("%s stopping (signal %s)", name, signum)
        threading.Thread(target=stop.set, name="stop-request", daemon=True).start()

    for signum in signums:
        signal.signal(signum, request_stop)
    return stop


def wait_for_release(settings: Settings, stdin: IO[bytes] | None = None) -> bool:
    """In a child started with ``hold``: block until ``ztc run`` releases it; False if it never will.

    Without ``hold`` this returns True at once. End of input (the parent closed the pipe
    or died before the stack was ready) means: stop without touching the broker.
    """
    if not settings.internal_hold_start:
        return True
    line = (stdin or sys.stdin.buffer).readline()
    return line == RELEASE_LINE


def prepare_topics(settings: Settings, policy: RoutingPolicy, force: bool = False) -> None:
    """Create every topic of the installation, from the one table, with its partition count."""
    if not force and settings.topics_ready:  # a worker of `ztc run`, which created them already
        return
    from deploy.topics import ensure_topics  # the Kafka admin client: only when topics are made

    ensure_topics(
        settings.kafka_bootstrap,
        settings.topics.all(policy.department_codes),
        settings.partitions,
        settings.replication_factor,
        client_options=settings.kafka_client_options(),
    )


def embedded_stack(settings: Settings, *, tied_to_parent: bool = False) -> EmbeddedStack:
    return EmbeddedStack(
        settings.data_dir, settings.broker_port, settings.redis_port, tied_to_parent=tied_to_parent
    )


def _background_child() -> None:
    die_with_parent()
    os.nice(5)


class Supervisor:
    """Starts child services, restarts one that dies, and stops them all in order."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, float] = {}
        self.background: dict[str, bool] = {}
        self.failures: dict[str, int] = {}
        self.next_start: dict[str, float] = {}
        self.pending: set[str] = set()
        self.halted: set[str] = set()

    def start(self, name: str, background: bool = False, hold: bool = False) -> None:
        """Start ``ztc NAME``; ``background`` services run niced, leaving the CPU to the ticket path.

        The child gets this process's environment plus ``ZTC_INTERNAL_TOPICS_READY`` (read back
        through ``Settings``): the topics exist already, so it does not create them again.
        ``hold``: the child imports and loads what it needs, then waits for ``release`` before it
        connects to anything (``ZTC_INTERNAL_HOLD_START``, see ``wait_for_release``).
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as out:
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "ztc", name],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if hold else subprocess.DEVNULL,
                start_new_session=True,
                env=self._child_env(os.environ, hold),
                preexec_fn=_background_child if background else die_with_parent,
            )
        self.background[name] = background

    def _child_env(self, inherited: Mapping[str, str], hold: bool) -> dict[str, str]:
        env = {**inherited, Settings.variable("internal_topics_ready"): self.settings.kafka_bootstrap}
        env.pop(Settings.variable("internal_hold_start"), None)
        if hold:
            env[Settings.variable("internal_hold_start")] = "1"
        return env

    def release(self, names: tuple[str, ...], go: bool = True) -> None:
        """Let held children go on (``go``), or tell them to stop quietly; a dead child is skipped."""
        for name in names:
            child = self.children.get(name)
            if child is None or child.stdin is None:
                continue
            try:
                if go:
                    child.stdin.write(RELEASE_LINE)
                child.stdin.close()
            except OSError:  # it died meanwhile; check() restarts it, unheld
                pass

    def check(self) -> list[str]:
        """Restart children that exited, backing off while they keep failing; report what happened."""
        notes = []
        now = time.monotonic()
        for name, child in list(self.children.items()):
            if name in self.pending or name in self.halted or child.poll() is None:
                continue
            recent = now - self.restarts.get(name, -60.0) < 60
            self.failures[name] = self.failures.get(name, 0) + 1 if recent else 1
            delay = min(2.0 ** self.failures[name], 60.0)
            log_path = self.log_dir / f"{name}.log"
            notes.append(
                f"{name} exited with {child.returncode}; restarting in {delay:.0f}s (log: {log_path})"
            )
            self.next_start[name] = now + delay
            self.pending.add(name)
        for name in sorted(self.pending):
            if now >= self.next_start[name]:
                self.pending.discard(name)
                self.restarts[name] = now
                self.start(name, self.background.get(name, False))
        return notes

    def stop(self, timeout_s: float = 20.0, only: tuple[str, ...] | None = None) -> list[str]:
        """Stop children (all, or ``only``) with SIGTERM; return the names that had to be killed."""
        chosen = {n: c for n, c in self.children.items() if only is None or n in only}
        for child in chosen.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        killed = []
        for name, child in chosen.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", name)
                child.kill()
                child.wait()
                killed.append(name)
        return killed

    def halt(self, names: tuple[str, ...], timeout_s: float = 5.0) -> None:
        """Stop these children and do not restart them until ``resume``."""
        self.pending -= set(names)
        self.stop(timeout_s, only=names)
        self.halted |= set(names)

    def resume(self, names: tuple[str, ...]) -> None:
        for name in names:
            self.halted.discard(name)
            self.start(name, self.background.get(name, False))


class WatchedStack(Protocol):
    """What the watch needs of the embedded stack (``deploy.embedded.EmbeddedStack``)."""

    def status(self) -> list[ServiceStatus]: ...
    def restart(self, name: str, timeout_s: float = 20.0) -> None: ...


class StackWatch:
    """Under ``ztc run``: notice a dead embedded broker or Redis within seconds and bring it back.

    Redis comes back with its AOF (the stack waits until it has loaded). The broker
    comes back empty — Tansu keeps everything in memory — so the Kafka workers are
    stopped first (nothing must auto-create a topic with the wrong partition
    count), every topic is created again from the one table, every unconfirmed
    event in the outbox is made due, and the workers start again and replay it.
    """

    KAFKA_WORKERS = ("router", "recorder", "monitor", "hotspots")
    UNANSWERED_CHECKS = 5
    """A live process must fail this many checks in a row (one a second) before it is restarted."""

    def __init__(
        self,
        stack: WatchedStack,
        supervisor: Supervisor,
        recreate_topics: Callable[[], None],
        replay_outbox: Callable[[], int],
    ) -> None:
        self.stack = stack
        self.supervisor = supervisor
        self.recreate_topics = recreate_topics
        self.replay_outbox = replay_outbox
        self.unanswered: dict[str, int] = {}

    @classmethod
    def for_run(
        cls, stack: EmbeddedStack, settings: Settings, policy: RoutingPolicy, supervisor: Supervisor
    ) -> StackWatch:
        from producers.outbox import RedisOutbox
        from ztc.bootstrap import redis_client

        def recreate_topics() -> None:
            prepare_topics(settings, policy, force=True)

        def replay_outbox() -> int:
            return RedisOutbox(redis_client(settings), settings.redis_prefix).replay_all()

        return cls(stack, supervisor, recreate_topics, replay_outbox)

    def check(self) -> list[str]:
        notes: list[str] = []
        for status in sorted(self.stack.status(), key=lambda s: s.name != "redis"):  # Redis first
            if status.running:
                self.unanswered[status.name] = 0
                continue
            self.unanswered[status.name] = self.unanswered.get(status.name, 0) + 1
            if status.pid is not None and self.unanswered[status.name] < self.UNANSWERED_CHECKS:
                continue  # alive but busy: give it a few seconds before declaring it hung
            self.unanswered[status.name] = 0
            try:
                notes += self._restart_redis() if status.name == "redis" else self._restart_broker()
            except StackError as exc:
                notes.append(f"重启失败，稍后重试 / restart failed, trying again: {exc}")
        return notes

    def _restart_redis(self) -> list[str]:
        started = time.monotonic()
        self.stack.restart("redis")
        took = time.monotonic() - started
        return [
            "Redis 已停止 / Redis was down; restarted it",
            f"Redis 已恢复 / Redis is back with its data ({took:.1f}s); workers reconnect by themselves",
        ]

    def _restart_broker(self) -> list[str]:
        started = time.monotonic()
        self.supervisor.halt(self.KAFKA_WORKERS)
        self.stack.restart("broker")
        self.recreate_topics()
        replayed = self.replay_outbox()
        self.supervisor.resume(self.KAFKA_WORKERS)
        took = time.monotonic() - started
        return [
            "消息代理已停止 / the embedded broker was down; restarting it and the Kafka workers",
            f"消息代理已恢复 / broker back in {took:.1f}s: topics re-created, "
            f"{replayed} unconfirmed events re-published from the outbox",
        ]
