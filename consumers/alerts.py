"""Alert sinks for SLA events: the log, a group-robot webhook, Redis pub/sub.

Each sink runs in its own worker thread with its own queue and retries with
exponential backoff, so a failing or slow sink never blocks the others. The
webhook speaks the text-message format that WeCom and DingTalk group robots
accept: ``{"msgtype": "text", "text": {"content": "..."}}``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.request
from typing import Protocol

import redis

from schemas.sla import SlaBreached, SlaEscalated, SlaEvent, SlaWarning

log = logging.getLogger(__name__)


def alert_text(event: SlaEvent) -> str:
    """One readable Chinese line for people in a group chat."""
    due = event.due_at.strftime("%m-%d %H:%M")
    stage = event.stage.label
    if isinstance(event, SlaWarning):
        return (
            f"【临期预警】工单 {event.ticket_id} {stage}时限 {due} 将到期，请 {event.department} 抓紧办理。"
        )
    if isinstance(event, SlaBreached):
        return f"【超期】工单 {event.ticket_id} {stage}已超过时限 {due}，承办部门 {event.department}。"
    if isinstance(event, SlaEscalated):
        who = event.department if event.notify == "department" else "区政府办公室"
        return (
            f"【{event.level_label}】工单 {event.ticket_id} {stage}超期（时限 {due}），"
            f"第 {event.level} 级：请 {who} 督促 {event.department} 办理。"
        )
    return f"工单 {event.ticket_id} {stage}时限事件"


def robot_message(event: SlaEvent) -> dict[str, object]:
    return {"msgtype": "text", "text": {"content": alert_text(event)}}


class AlertSink(Protocol):
    name: str

    def send(self, event: SlaEvent) -> None: ...


class LogSink:
    name = "log"

    def send(self, event: SlaEvent) -> None:
        log.warning("SLA %s", alert_text(event))


class WebhookSink:
    name = "webhook"

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def send(self, event: SlaEvent) -> None:
        body = json.dumps(robot_message(event), ensure_ascii=False).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            if response.status >= 300:
                raise OSError(f"webhook answered {response.status}")


class RedisPubSubSink:
    name = "redis"

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self.client = client
        self.channel = channel

    def send(self, event: SlaEvent) -> None:
        payload = {"event": event.model_dump(mode="json"), "text": alert_text(event)}
        self.client.publish(self.channel, json.dumps(payload, ensure_ascii=False))


class SinkWorker:
    """One sink, one thread, one bounded queue; retries with backoff, then gives up loudly."""

    def __init__(
        self, sink: AlertSink, attempts: int = 6, first_delay_s: float = 0.5, capacity: int = 1000
    ) -> None:
        self.sink = sink
        self.attempts = attempts
        self.first_delay_s = first_delay_s
        self.queue: queue.Queue[SlaEvent | None] = queue.Queue(maxsize=capacity)
        self.thread = threading.Thread(target=self._loop, name=f"alert-{sink.name}", daemon=True)
        self.delivered = 0
        self.failed = 0

    def start(self) -> None:
        self.thread.start()

    def offer(self, event: SlaEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.failed += 1
            log.error("alert sink %s is backed up; dropped alert for %s", self.sink.name, event.ticket_id)

    def stop(self, timeout_s: float = 5.0) -> None:
        self.queue.put(None)
        self.thread.join(timeout_s)

    def _loop(self) -> None:
        while (event := self.queue.get()) is not None:
            self._deliver(event)

    def _deliver(self, event: SlaEvent) -> None:
        delay = self.first_delay_s
        for attempt in range(1, self.attempts + 1):
            try:
                self.sink.send(event)
                self.delivered += 1
                return
            except Exception as exc:
                log.warning(
                    "alert sink %s failed (attempt %d/%d): %s", self.sink.name, attempt, self.attempts, exc
                )
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.failed += 1
        log.error("alert sink %s gave up on %s for %s", self.sink.name, event.event_type, event.ticket_id)
