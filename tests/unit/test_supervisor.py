"""The `ztc run` supervisor restarts a dead service, backing off while it keeps failing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy.embedded import ServiceStatus, StackError
from schemas.settings import Settings
from ztc.services import StackWatch, Supervisor


class DeadChild:
    returncode = 1

    def poll(self) -> int:
        return 1


def test_a_failing_service_is_restarted_with_growing_delays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    supervisor = Supervisor(Settings(), tmp_path)
    started: list[str] = []

    def fake_start(name: str, background: bool = False) -> None:
        started.append(name)
        supervisor.children[name] = DeadChild()  # type: ignore[assignment]

    monkeypatch.setattr(supervisor, "start", fake_start)
    supervisor.children["router"] = DeadChild()  # type: ignore[assignment]

    [note] = supervisor.check()
    assert "router exited with 1; restarting in 2s" in note and started == []
    clock[0] += 2.0
    assert supervisor.check() == [] and started == ["router"]
    [note] = supervisor.check()  # died again at once
    assert "restarting in 4s" in note
    clock[0] += 4.0
    supervisor.check()
    assert started == ["router", "router"]
    clock[0] += 120.0  # a minute of calm resets the back-off
    [note] = supervisor.check()
    assert "restarting in 2s" in note


class FakeStack:
    """Status answers scripted per check; records what was restarted."""

    def __init__(self) -> None:
        self.alive = {"broker": True, "redis": True}
        self.ready = {"broker": True, "redis": True}
        self.restarted: list[str] = []

    def status(self) -> list[ServiceStatus]:
        return [
            ServiceStatus(n, 1, 42 if self.alive[n] else None, self.ready[n], Path("/dev/null"))
            for n in ("broker", "redis")
        ]

    def restart(self, name: str, timeout_s: float = 20.0) -> None:
        self.restarted.append(name)
        self.alive[name] = self.ready[name] = True


class FakeSupervisor:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def halt(self, names: tuple[str, ...]) -> None:
        self.calls.append(f"halt {','.join(names)}")

    def resume(self, names: tuple[str, ...]) -> None:
        self.calls.append(f"resume {','.join(names)}")


def watch(stack: FakeStack, calls: list[str]) -> StackWatch:
    def recreate() -> None:
        calls.append("topics")

    def replay() -> int:
        calls.append("replay")
        return 7

    return StackWatch(stack, FakeSupervisor(calls), recreate, replay)  # type: ignore[arg-type]


def test_a_dead_broker_is_restarted_at_once_with_topics_and_outbox_before_the_workers() -> None:
    stack, calls = FakeStack(), list[str]()
    watcher = watch(stack, calls)
    assert watcher.check() == []
    stack.alive["broker"] = stack.ready["broker"] = False
    notes = watcher.check()
    assert stack.restarted == ["broker"]
    workers = "router,recorder,monitor,hotspots"
    assert calls == [f"halt {workers}", "topics", "replay", f"resume {workers}"]
    assert "7 unconfirmed events re-published" in notes[-1]


def test_a_live_but_silent_server_gets_a_few_seconds_before_it_is_restarted() -> None:
    stack, calls = FakeStack(), list[str]()
    watcher = watch(stack, calls)
    stack.ready["redis"] = False  # e.g. busy; the process is alive
    for _ in range(StackWatch.UNANSWERED_CHECKS - 1):
        assert watcher.check() == []
    notes = watcher.check()
    assert stack.restarted == ["redis"] and "Redis" in notes[0] and calls == []


def test_a_failed_restart_is_reported_and_tried_again() -> None:
    stack, calls = FakeStack(), list[str]()

    def refuse(name: str, timeout_s: float = 20.0) -> None:
        raise StackError("port taken")

    stack.restart = refuse  # type: ignore[method-assign]
    stack.alive["redis"] = stack.ready["redis"] = False
    watcher = watch(stack, calls)
    assert "restart failed" in watcher.check()[0]
    assert "restart failed" in watcher.check()[0]


def test_shutdown_names_the_workers_it_had_to_kill(tmp_path: Path) -> None:
    supervisor = Supervisor(Settings(), tmp_path)
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); "
        "time.sleep(60)"
    )
    supervisor.children["router"] = subprocess.Popen([sys.executable, "-c", stubborn], stdout=subprocess.PIPE)
    supervisor.children["recorder"] = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert supervisor.children["router"].stdout is not None
    supervisor.children["router"].stdout.readline()  # its SIGTERM handler is in place
    assert supervisor.stop(timeout_s=1.0) == ["router"]
