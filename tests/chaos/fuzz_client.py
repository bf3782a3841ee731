"""Send generated requests to the web edge from a few threads and keep every answer, per route.

Each request goes on a fresh connection, written byte for byte as generated
(http.client only adds ``Content-Length`` when the request does not set one).
A request http.client refuses to write (an illegal header) is skipped and
counted; a connection the server drops is kept as "no answer".
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from dataclasses import dataclass, field

from tests.chaos.fuzz import FuzzRequest

UNSENDABLE = -1


@dataclass
class FuzzReport:
    statuses: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    no_answer: list[str] = field(default_factory=list)
    unsendable: int = 0
    by_route: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def count_5xx(self) -> int:
        return sum(n for s, n in self.statuses.items() if s.isdigit() and int(s) >= 500)


def _describe(request: FuzzRequest) -> str:
    body = request.body or b""
    return f"{request.method} {request.path[:120]} body {len(body)} B {body[:60]!r}"


def send_all(port: int, batch: list[FuzzRequest], clients: int = 4, timeout_s: float = 45.0) -> FuzzReport:
    report = FuzzReport()
    lock = threading.Lock()
    pending = iter(batch)

    def worker() -> None:
        while True:
            with lock:
                request = next(pending, None)
            if request is None:
                return
            status, detail = _send(port, request, timeout_s)
            with lock:
                if status == UNSENDABLE:
                    report.unsendable += 1
                    continue
                answer = str(status) if status else "no answer"
                report.statuses[answer] += 1
                report.by_route.setdefault(request.route, Counter())[answer] += 1
                if status is None:
                    report.no_answer.append(f"{_describe(request)}: {detail}")
                elif status >= 500:
                    report.server_errors.append(f"{status} {_describe(request)} → {detail}")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return report


def _send(port: int, request: FuzzRequest, timeout_s: float) -> tuple[int | None, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        try:
            connection.putrequest(request.method, request.path, skip_accept_encoding=True)
            names = {name.lower() for name, _ in request.headers}
            for name, value in request.headers:
                connection.putheader(name, value)
        except ValueError as exc:  # http.client refuses to write it: not a request a server can see
            return UNSENDABLE, f"{type(exc).__name__}: {exc}"[:200]
        if request.body is not None and "content-length" not in names:
            connection.putheader("Content-Length", str(len(request.body)))
        connection.endheaders(request.body)
        response = connection.getresponse()
        answer = response.read(300)
        return response.status, answer.decode(errors="replace")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:200]
    finally:
        connection.close()
