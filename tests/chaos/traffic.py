"""Submit tickets through the HTTP intake at a steady rate from a few client threads, as channels do.

A submission is *acknowledged* when the API answered 202 (new) or 200 (a retry
of a known message) with a ticket id. Like a real channel, a client retries a
connection error or a 5xx with the same channel message id (with backoff, a
bounded number of times); a 4xx is final.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

ACKNOWLEDGED = (200, 202)


@dataclass
class Outcome:
    """What happened to one submission."""

    message_id: str
    status: int | None = None
    ticket_id: str | None = None
    attempts: int = 0
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status in ACKNOWLEDGED and self.ticket_id is not None


@dataclass
class SubmitReport:
    outcomes: list[Outcome]
    seconds: float
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def acknowledged(self) -> dict[str, str]:
        """channel message id → ticket id, for every acknowledged submission."""
        return {o.message_id: o.ticket_id for o in self.outcomes if o.acknowledged and o.ticket_id}

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.isdigit() and int(status) >= 500)


class Submitter:
    """POST bodies to ``/api/tickets`` on ``port`` with the channel ``key``, ``rate`` per second in all."""

    def __init__(
        self, port: int, key: str, rate: float, clients: int = 4, attempts: int = 8, timeout_s: float = 30.0
    ) -> None:
        self.port = port
        self.key = key
        self.rate = rate
        self.clients = clients
        self.attempts = attempts
        self.timeout_s = timeout_s
        self.dispatched = 0
        self._lock = threading.Lock()
        self._statuses: Counter[str] = Counter()

    def run(
        self, bodies: list[dict[str, Any]], on_dispatch: Callable[[int], None] | None = None
    ) -> SubmitReport:
        """Send every body once (plus retries); ``on_dispatch(i)`` is called as submission i starts."""
        outcomes = [Outcome(str(body["channel_message_id"])) for body in bodies]
        started = time.monotonic()
        next_index = iter(range(len(bodies)))

        def client() -> None:
            connection: http.client.HTTPConnection | None = None
            while True:
                with self._lock:
                    index = next(next_index, None)
                    if index is None:
                        break
                    self.dispatched += 1
                delay = started + index / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if on_dispatch is not None:
                    on_dispatch(index)
                connection = self._submit(connection, bodies[index], outcomes[index])
            if connection is not None:
                connection.close()

        threads = [threading.Thread(target=client, daemon=True) for _ in range(self.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
        with self._lock:
            statuses = Counter(self._statuses)
        report = SubmitReport(outcomes, seconds, statuses)
        log.info(
            "submitted %d in %.0fs: %d acknowledged; answers %s",
            len(bodies),
            seconds,
            len(report.acknowledged),
            dict(statuses),
        )
        return report

    def _submit(
        self, connection: http.client.HTTPConnection | None, body: dict[str, Any], outcome: Outcome
    ) -> http.client.HTTPConnection | None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        headers = {"X-API-Key": self.key, "Content-Type": "application/json"}
        backoff = 0.5
        for attempt in range(1, self.attempts + 1):
            outcome.attempts = attempt
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_s)
            try:
                connection.request("POST", "/api/tickets", body=payload, headers=headers)
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                connection = None
                outcome.error = f"{type(exc).__name__}: {exc}"
                self._count("no answer")
            else:
                outcome.status = response.status
                self._count(str(response.status))
                if response.getheader("connection", "").lower() == "close":
                    connection.close()
                    connection = None
                if response.status < 500:
                    if response.status in ACKNOWLEDGED:
                        outcome.ticket_id = str(json.loads(answer)["ticket_id"])
                    else:
                        outcome.error = answer[:300].decode(errors="replace")
                    return connection
                outcome.error = answer[:300].decode(errors="replace")
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
        return connection

    def _count(self, what: str) -> None:
        with self._lock:
            self._statuses[what] += 1
