"""The `ztc run` supervisor restarts a dead service, backing off while it keeps failing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from schemas.settings import Settings
from ztc.services import Supervisor


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
