"""A loopback group-robot webhook that keeps every alert ZTC's alerter delivers to it.

Each delivery keeps the ``X-ZTC-Event-Id`` header (the SLA event's id, when the
alerter sends it) and the message text. ``signature`` reads the text back into
(ticket, stage, kind), the fallback identity of an alert without the header.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVENT_ID_HEADER = "X-ZTC-Event-Id"
STAGES = {"签收": "accept", "办结": "resolve"}
_TEXT = re.compile(r"【(?P<tag>[^】]+)】工单 (?P<ticket>\S+) (?P<stage>签收|办结)")
_LEVEL = re.compile(r"第 (?P<level>\d+) 级")


@dataclass(frozen=True)
class Delivery:
    event_id: str | None
    text: str
    at: float


def signature(text: str) -> tuple[str, str, str] | None:
    """(ticket id, stage, kind) of an alert text — kind as in SLA keys: warning, breach, escalationN."""
    found = _TEXT.search(text)
    if found is None:
        return None
    tag = found["tag"]
    if tag == "临期预警":
        kind = "warning"
    elif tag == "超期":
        kind = "breach"
    else:
        level = _LEVEL.search(text)
        if level is None:
            return None
        kind = f"escalation{level['level']}"
    return found["ticket"], STAGES[found["stage"]], kind


class AlertReceiver:
    """The webhook server and what it received; ``url`` goes into ``ZTC_ALERT_WEBHOOK_URL``."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.unreadable = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1 << 20))
                receiver._keep(self.headers.get(EVENT_ID_HEADER), body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode":0,"errmsg":"ok"}')

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/cgi-bin/webhook/send?key=chaos"

    def _keep(self, event_id: str | None, body: bytes) -> None:
        try:
            text = str(json.loads(body)["text"]["content"])
        except (ValueError, KeyError, TypeError):
            with self._lock:
                self.unreadable += 1
            return
        with self._lock:
            self.deliveries.append(Delivery(event_id or None, text, time.monotonic()))

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def count(self) -> int:
        with self._lock:
            return len(self.deliveries)


@contextmanager
def alert_receiver() -> Iterator[AlertReceiver]:
    receiver = AlertReceiver()
    receiver._thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
