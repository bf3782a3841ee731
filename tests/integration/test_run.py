"""``ztc run``: the whole system in one supervised process group, as ``make run`` starts it."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy.embedded import free_port
from schemas.settings import Settings
from tests.integration.conftest import WaitFor, settings_env, ztc

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def test_a_ticket_submitted_as_run_starts_is_recorded(settings: Settings, wait_for_ticket: WaitFor) -> None:
    """Functional only: how fast the first ticket gets through is measured by `make bench`, not asserted."""
    started = time.monotonic()
    run = subprocess.Popen(
        [sys.executable, "-m", "ztc", "run"],
        env=settings_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ticket_id = ztc(
            settings, "submit", "--text", "我们的特种设备电梯年检一直约不上", check=True
        ).stdout.strip()
        record = wait_for_ticket(ticket_id, 90)
        assert record.lead_department == "market"
        print(f"first ticket recorded {time.monotonic() - started:.1f}s after `ztc run` started")
    finally:
        run.send_signal(signal.SIGINT)
        output, _ = run.communicate(timeout=60)
    assert run.returncode == 0, output
    assert "stopped cleanly" in output


def test_run_demo_on_embedded_stack_routes_and_stops_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZTC_")}
    env |= {
        "ZTC_DATA_DIR": str(tmp_path),
        "ZTC_BROKER_PORT": str(free_port()),
        "ZTC_REDIS_PORT": str(free_port()),
        "ZTC_API_PORT": str(free_port()),
    }
    run = subprocess.Popen(
        [sys.executable, "-m", "ztc", "run", "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert run.stdout is not None
    for line in run.stdout:
        lines.append(line)
        if "Ctrl-C" in line:
            break
    pids = [int((tmp_path / f"{name}.pid").read_text()) for name in ("broker", "redis")]
    run.send_signal(signal.SIGINT)
    rest, _ = run.communicate(timeout=60)
    output = "".join(lines) + rest
    assert run.returncode == 0, output
    assert output.count("→ 主办") == 4, output
    assert "dashboard http://127.0.0.1:" in output and "office" in output
    assert "区行政审批服务局(approval)" in output and "兴城路街道办事处" in output
    assert "stopped cleanly" in output
    assert not any(_alive(pid) for pid in pids)
    logins = tmp_path / "demo-logins.txt"
    assert stat.S_IMODE(logins.stat().st_mode) == 0o600
    rows = [line.split("\t") for line in logins.read_text("utf-8").splitlines() if not line.startswith("#")]
    assert {r[0] for r in rows} >= {"dispatcher", "clerk-approval", "clerk-market", "admin"}
    for username, password, *_ in rows:  # printed once, in the same words as the file
        assert f"{username}" in output and password in output
