"""The `ztc run` supervisor restarts a dead service, backing off while it keeps failing."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from deploy.embedded import ServiceStatus, StackError, free_port
from schemas.settings import Settings
from ztc.supervisor import RELEASE_LINE, StackWatch, Supervisor, stop_on_signals, wait_for_release


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


def test_a_worker_waits_for_the_release_line_and_stops_on_end_of_input() -> None:
    held = Settings(internal_hold_start=True)
    assert wait_for_release(Settings(), io.BytesIO(b"")) is True  # not held: goes on at once
    assert wait_for_release(held, io.BytesIO(RELEASE_LINE)) is True
    assert wait_for_release(held, io.BytesIO(b"")) is False  # ztc run gave up before the stack was up
    assert wait_for_release(held, io.BytesIO(b"stop\n")) is False


def test_a_held_worker_started_by_run_exits_quietly_when_not_released(tmp_path: Path) -> None:
    """The recorder loads, waits on its stdin, and leaves without touching a broker nobody started."""
    settings = Settings(data_dir=tmp_path, broker_port=free_port(), redis_port=free_port())
    supervisor = Supervisor(settings, tmp_path / "logs")
    supervisor.start("recorder", hold=True)
    child = supervisor.children["recorder"]
    assert child.poll() is None and child.stdin is not None  # held: alive, its stdin is ours
    supervisor.release(("recorder",), go=False)
    assert child.wait(timeout=60) == 0
    log_text = (tmp_path / "logs" / "recorder.log").read_text()
    assert "Traceback" not in log_text and "bootstrap" not in log_text  # it never tried to connect


def test_restarted_workers_are_not_held(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    launched: list[dict[str, str]] = []

    class Launched:
        stdin = None

        def __init__(self, argv: list[str], **options: Any) -> None:
            launched.append(options["env"])

    monkeypatch.setenv(Settings.variable("internal_hold_start"), "1")  # as a held parent would have it
    monkeypatch.setattr(subprocess, "Popen", Launched)
    supervisor = Supervisor(Settings(), tmp_path)
    supervisor.start("router", hold=True)
    supervisor.start("router")
    variable = Settings.variable("internal_hold_start")
    assert launched[0][variable] == "1" and variable not in launched[1]


def test_a_signal_arriving_while_the_main_thread_holds_the_stop_events_lock_still_stops() -> None:
    """The handler runs in the main thread, maybe inside ``stop.wait()``: it must not wait on that lock."""
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        stop = stop_on_signals((signal.SIGUSR1,))
        handler = signal.getsignal(signal.SIGUSR1)
        assert callable(handler)
        with stop._cond:  # type: ignore[attr-defined]  # where Event.wait holds it; Event.set here would deadlock this thread
            handler(signal.SIGUSR1, None)
            assert not stop.is_set()
        assert stop.wait(timeout=5)
    finally:
        signal.signal(signal.SIGUSR1, previous)
