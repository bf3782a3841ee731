"""Health endpoints of a worker: ``/healthz`` (alive) and ``/readyz`` (joined and connected).

Every worker (router, recorder, monitor, alerter) serves them on ``ZTC_HEALTH_PORT``
when it is set (Kubernetes probes; off by default, so several workers on one
host never fight for a port). A probe is a plain callable returning ``None``
when all is well, else one line saying what is wrong; it must answer within a
second (each runs on the server's thread, never on the worker's loop):

- ``/healthz`` runs the *live* probes: the worker's loop went round lately. A
  failing liveness probe makes Kubernetes restart the pod, so only a stuck
  process fails it — never a broker or Redis outage, which a restart does not cure.
- ``/readyz`` runs the live and the *ready* probes: the consumer has partitions of
  its group assigned (a worker beyond the partition count is a spare and stays
  unready, which is what an operator should see) and Redis answers a PING.

Answers are ``200 ok`` or ``503`` with one line per failed probe, as plain text.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, cast

import redis

from schemas.settings import Settings

if TYPE_CHECKING:
    import faust

    from consumers.recorder import Recorder

log = logging.getLogger(__name__)

Probe = Callable[[], str | None]
"""None when healthy, else what is wrong (one line)."""


def loop_probe(last_round: Callable[[], float], stale_s: float = 300.0) -> Probe:
    """Live while the worker's loop went round (``last_round``: its ``time.monotonic()``) lately."""

    def probe() -> str | None:
        idle = time.monotonic() - last_round()
        return f"loop idle for {idle:.0f}s" if idle > stale_s else None

    return probe


@dataclass
class Health:
    """What a worker's endpoints check."""

    live: list[Probe] = field(default_factory=list)
    ready: list[Probe] = field(default_factory=list)

    def failures(self, path: str) -> list[str] | None:
        """What fails for ``path`` (empty: healthy); None for an unknown path."""
        if path == "/healthz":
            probes: Sequence[Probe] = self.live
        elif path == "/readyz":
            probes = [*self.live, *self.ready]
        else:
            return None
        out = []
        for probe in probes:
            try:
                problem = probe()
            except Exception as exc:  # a probe that raises is a failed probe, not a dead server
                problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                out.append(problem)
        return out


def redis_probe(client: redis.Redis) -> Probe:
    def probe() -> str | None:
        try:
            client.ping()
        except redis.RedisError as exc:
            return f"redis: {type(exc).__name__}: {exc}"
        return None

    return probe


def assigned_probe(assignment: Callable[[], object]) -> Probe:
    """Ready once the consumer has partitions of its group (``assignment()`` not empty)."""

    def probe() -> str | None:
        try:
            partitions = assignment()
        except Exception as exc:
            return f"consumer not started: {type(exc).__name__}"
        return None if partitions else "no partitions assigned (joining the group, or a spare worker)"

    return probe


def _handler(health: Health) -> type[BaseHTTPRequestHandler]:
    class HealthHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            failed = health.failures(self.path.split("?", 1)[0])
            if failed is None:
                self._answer(404, "not found\n")
            elif failed:
                self._answer(503, "".join(f"{line}\n" for line in failed))
            else:
                self._answer(200, "ok\n")

        def _answer(self, status: int, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # probes every few seconds would drown the worker's log

    return HealthHandler


def serve_health(port: int, health: Health, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve ``/healthz`` and ``/readyz`` on ``port`` from a daemon thread; return the server."""
    server = ThreadingHTTPServer((host, port), _handler(health))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    log.info("health on http://%s:%s/healthz and /readyz", host, port)
    return server


def serve_worker_health(settings: Settings, health: Health) -> None:
    """``/healthz`` and ``/readyz`` at ``ZTC_HEALTH_PORT`` (off when unset)."""
    if settings.health_port is not None:
        serve_health(settings.health_port, health, settings.metrics_host)


def router_health(app: faust.App) -> Health:
    """Live: the event loop runs a timer every few seconds; ready: partitions of the group assigned."""
    last = [time.monotonic()]

    async def beat() -> None:
        last[0] = time.monotonic()

    timer = cast(Callable[[Callable[[], Awaitable[None]]], object], app.timer(5.0))
    timer(beat)

    def assignment() -> object:
        consumer = app._consumer  # only once the worker made it: the probe must not create it
        return consumer.assignment() if consumer is not None else set()

    return Health(live=[loop_probe(lambda: last[0], stale_s=60.0)], ready=[assigned_probe(assignment)])


def recorder_health(recorder: Recorder, client: redis.Redis) -> Health:
    """Live: its poll loop went round; ready: partitions of the group assigned and Redis answering."""
    return Health(
        live=[loop_probe(lambda: recorder.last_round)],
        ready=[assigned_probe(recorder.assignment), redis_probe(client)],
    )
