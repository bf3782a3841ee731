"""Worker health endpoints: /healthz runs the live probes, /readyz the live and the ready ones."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import redis

from deploy.embedded import free_port
from ztc.health import Health, assigned_probe, loop_probe, redis_probe, serve_health


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_ready_needs_partitions_and_live_needs_a_loop_that_goes_round() -> None:
    partitions: set[int] = set()
    last = [time.monotonic()]
    health = Health(
        live=[loop_probe(lambda: last[0], stale_s=30)], ready=[assigned_probe(lambda: partitions)]
    )
    port = free_port()
    server = serve_health(port, health, "127.0.0.1")
    try:
        assert get(port, "/healthz") == (200, "ok\n")
        status, text = get(port, "/readyz")
        assert status == 503 and "no partitions assigned" in text
        partitions.add(3)
        assert get(port, "/readyz") == (200, "ok\n")
        last[0] -= 60  # the loop stopped going round: dead, hence not ready either
        assert get(port, "/healthz")[0] == 503 and get(port, "/readyz")[0] == 503
        assert get(port, "/other")[0] == 404
    finally:
        server.shutdown()


def test_a_redis_that_does_not_answer_and_a_probe_that_raises_fail_readiness() -> None:
    nowhere = redis.Redis(port=free_port(), socket_connect_timeout=0.5)

    def broken() -> object:
        raise RuntimeError("consumer not started")

    failures = Health(ready=[redis_probe(nowhere), assigned_probe(broken)]).failures("/readyz")
    assert failures is not None and len(failures) == 2 and failures[0].startswith("redis: ConnectionError")
    assert Health(ready=[redis_probe(nowhere)]).failures("/healthz") == []
