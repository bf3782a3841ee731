"""The system under test: one real ``python -m ztc run`` in a data dir of its own, and its processes.

``ZtcRun`` writes the policy and API keys, starts ``ztc run`` (no ``--demo``) in
its own session, waits for its "Ctrl-C" line and for the web edge, keeps its
output, and tells the pids of its workers (children named ``python -m ztc
NAME``) and of the embedded broker and Redis (their pid files). A watcher
thread records every pid each service ever had, so restarts are counted and
``stop`` can kill whatever is left, even after a failure half-way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from consumers.access import write_demo_keys
from deploy.embedded import answers_ok, die_with_parent, free_port
from schemas.settings import Settings
from tests.integration.conftest import default_policy_text, escalation_ladder
from ztc.bootstrap import load_checked_policy, redis_client

log = logging.getLogger(__name__)

WORKERS = ("router", "recorder", "monitor", "alerter", "hotspots", "api")
STACK = ("broker", "redis")
READY_LINE = "Ctrl-C"
FAST_TIER = "fast"


class RunFailed(RuntimeError):
    """``ztc run`` did not come up; the message holds the end of its output."""


def ladder_rung_s(accept_s: int) -> int:
    """Seconds from the breach to 督办 (通报 comes twice as late)."""
    return max(2, accept_s // 4)


def chaos_policy(accept_s: int) -> str:
    """The shipped policy plus an SLA section: key enterprises get an ``accept_s``-second window.

    Every other ticket has hours, so only the key-enterprise share raises alerts:
    a warning at half the window, the breach, then 催办 at once, 督办 and 通报 soon after.
    """
    rung = ladder_rung_s(accept_s)
    sla = f"""
[sla]
hold_outside_working_hours = false
warning_share = 0.5
default_tier = "calm"

[[sla.tiers]]
name = "calm"
accept = "10 hours"
resolve = "20 hours"

[[sla.tiers]]
name = "{FAST_TIER}"
accept = "{accept_s} seconds"
resolve = "10 hours"

[[sla.rules]]
tier = "{FAST_TIER}"
key = true
"""
    return default_policy_text() + sla + escalation_ladder(f"{rung} seconds", f"{2 * rung} seconds")


@dataclass(frozen=True)
class Seen:
    """One process a service had: pid plus kernel start time, so a reused pid is never mistaken."""

    pid: int
    started: int


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, start time, state) from /proc, or None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19]), fields[0]


def _alive(seen: Seen) -> bool:
    stat = _stat(seen.pid)
    return stat is not None and stat[1] == seen.started and stat[2] != "Z"


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


class ZtcRun:
    """``ztc run`` on ``data_dir``: start, find and kill its processes, stop it and everything it left."""

    def __init__(self, data_dir: Path, webhook_url: str, accept_s: int) -> None:
        data_dir = data_dir.resolve()  # the run's cwd is the data dir: every path it gets is absolute
        self.data_dir = data_dir
        self.accept_s = accept_s
        self.rung_s = ladder_rung_s(accept_s)
        data_dir.mkdir(parents=True, exist_ok=True)
        policy_path = data_dir / "chaos-policy.toml"
        policy_path.write_text(chaos_policy(accept_s), encoding="utf-8")
        self.policy = load_checked_policy(policy_path)
        keys_file = data_dir / "api-keys.toml"
        self.keys = write_demo_keys(keys_file, self.policy.department_codes)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ZTC_")}
        self.env |= {
            "ZTC_DATA_DIR": str(data_dir),
            "ZTC_BROKER_PORT": str(free_port()),
            "ZTC_REDIS_PORT": str(free_port()),
            "ZTC_API_PORT": str(free_port()),
            "ZTC_POLICY_PATH": str(policy_path),
            "ZTC_API_KEYS": str(keys_file),
            "ZTC_ALERT_SINKS": "webhook",
            "ZTC_ALERT_WEBHOOK_URL": webhook_url,
        }
        self.settings = Settings.from_env(self.env)
        self.lines: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None
        self.seen: dict[str, list[Seen]] = {}
        self._lock = threading.Lock()
        self._watching = threading.Event()
        self._starts = 0

    # ------------------------------------------------------------ start / stop

    @property
    def api_port(self) -> int:
        return self.settings.api_port

    def redis(self) -> redis.Redis:
        return redis_client(self.settings)

    def start(self, timeout_s: float = 120.0) -> None:
        """Start ``ztc run`` and return once it printed its ready line and the web edge answers."""
        self._starts += 1
        began = time.monotonic()
        out_path = self.data_dir / f"run-{self._starts}.out"
        seen_lines = len(self.output_lines())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ztc", "run"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.data_dir,  # the router's Faust data dir lands here, not in the shared checkout
            start_new_session=True,
            preexec_fn=die_with_parent,  # the harness dies: ztc run stops, and with it everything it started
        )
        threading.Thread(target=self._read, args=(self.process, out_path), daemon=True).start()
        self._watching.set()
        threading.Thread(target=self._watch, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while not any(READY_LINE in line for line in self.output_lines()[seen_lines:]):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RunFailed(f"ztc run did not come up: {''.join(self.output_lines()[-20:])}")
            time.sleep(0.2)
        while not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RunFailed(f"the web edge did not answer: {''.join(self.output_lines()[-20:])}")
            time.sleep(0.3)
        log.info(
            "ztc run up in %.1fs in %s (api :%s)", time.monotonic() - began, self.data_dir, self.api_port
        )

    def _healthy(self) -> bool:
        return answers_ok(self.api_port, "/healthz")

    def _read(self, process: subprocess.Popen[bytes], out_path: Path) -> None:
        assert process.stdout is not None
        with open(out_path, "ab") as copy:
            for raw in process.stdout:
                copy.write(raw)
                copy.flush()
                with self._lock:
                    self.lines.append(raw.decode(errors="replace"))

    def output_lines(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def stop(self, timeout_s: float = 60.0) -> bool:
        """SIGINT ``ztc run`` as Ctrl-C does; then SIGKILL whatever it left. True if it stopped cleanly."""
        clean = False
        began = time.monotonic()
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=timeout_s)
                clean = process.returncode == 0
            except subprocess.TimeoutExpired:
                log.warning("ztc run did not stop in %.0fs; killing it", timeout_s)
                process.kill()
                process.wait(timeout=10)
        self._watching.clear()
        self.kill_leftovers()
        log.info("ztc run stopped in %.1fs%s", time.monotonic() - began, "" if clean else " (not cleanly)")
        return clean

    def kill_leftovers(self) -> list[int]:
        """SIGKILL every process this run ever had that is still alive (workers, broker, Redis)."""
        self._observe()
        with self._lock:
            everything = [s for pids in self.seen.values() for s in pids]
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        killed = []
        for seen in everything:
            if _alive(seen):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(seen.pid, signal.SIGKILL)
                    killed.append(seen.pid)
        return killed

    # ------------------------------------------------------------ processes

    def pids(self) -> dict[str, Seen]:
        """The live process of each worker and of the broker and Redis, now."""
        out: dict[str, Seen] = {}
        run_pid = self.process.pid if self.process is not None else -1
        for pid in _all_pids():
            stat = _stat(pid)
            if stat is None or stat[0] != run_pid or stat[2] == "Z":
                continue
            argv = _cmdline(pid)
            if len(argv) >= 3 and argv[-3:-1] == ["-m", "ztc"] and argv[-1] in WORKERS:
                out[argv[-1]] = Seen(pid, stat[1])
        for name in STACK:
            try:
                pid = int((self.data_dir / f"{name}.pid").read_text().strip())
            except (OSError, ValueError):
                continue
            stat = _stat(pid)
            if stat is not None and stat[2] != "Z":
                out[name] = Seen(pid, stat[1])
        return out

    def _observe(self) -> None:
        now = self.pids()
        with self._lock:
            for name, seen in now.items():
                known = self.seen.setdefault(name, [])
                if seen not in known:
                    known.append(seen)

    def _watch(self) -> None:
        while self._watching.is_set():
            self._observe()
            time.sleep(0.5)

    def kill(self, name: str) -> int:
        """kill -9 one worker, the broker or Redis; the pid it had."""
        self._observe()
        target = self.pids().get(name)
        if target is None:
            raise RunFailed(f"no live {name} to kill")
        os.kill(target.pid, signal.SIGKILL)
        log.info("kill -9 %s (pid %s)", name, target.pid)
        return target.pid

    def restarts(self) -> dict[str, int]:
        """Per service, how many processes it had beyond its first (across every start of this run)."""
        self._observe()
        with self._lock:
            return {name: len(pids) - self._starts for name, pids in self.seen.items()}

    def exit_lines(self) -> list[str]:
        """The supervisor's "NAME exited with ..." notes: a worker that died and was restarted."""
        return [line.strip() for line in self.output_lines() if " exited with " in line]


def new_data_dir(root: Path, name: str) -> Path:
    path = root / f"{name}-{int(time.time())}"
    path.mkdir(parents=True, exist_ok=True)
    return path
