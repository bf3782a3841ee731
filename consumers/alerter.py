"""The alerter: a kafka-python consumer of ``tickets.sla`` that hands each event to every alert sink."""

from __future__ import annotations

import logging
import threading

import redis
from kafka import KafkaConsumer
from pydantic import ValidationError

from consumers.alerts import AlertSink, LogSink, RedisPubSubSink, SinkWorker, WebhookSink
from schemas.settings import Settings, SettingsError
from schemas.sla import SLA_EVENT_ADAPTER

log = logging.getLogger(__name__)


def sinks_from(settings: Settings, client: redis.Redis) -> list[AlertSink]:
    """The sinks named in ``ZTC_ALERT_SINKS``; a webhook without its URL is a settings error."""
    sinks: list[AlertSink] = []
    for name in (n.strip() for n in settings.alert_sinks.split(",") if n.strip()):
        if name == "log":
            sinks.append(LogSink())
        elif name == "webhook":
            if not settings.alert_webhook_url:
                raise SettingsError("ZTC_ALERT_WEBHOOK_URL: required when ZTC_ALERT_SINKS names webhook")
            sinks.append(WebhookSink(settings.alert_webhook_url))
        elif name == "redis":
            sinks.append(RedisPubSubSink(client, settings.alert_channel))
        else:
            raise SettingsError(f"ZTC_ALERT_SINKS: unknown sink {name!r} (log, webhook, redis)")
    return sinks


def run_alerter(settings: Settings, sinks: list[AlertSink], stop: threading.Event) -> None:
    workers = [SinkWorker(sink) for sink in sinks]
    for worker in workers:
        worker.start()
    consumer = KafkaConsumer(
        settings.topics.sla,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.group_prefix}-alerter",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_s * 1000,
        heartbeat_interval_ms=2000,
    )
    log.info("alerter sending to %s", ", ".join(s.name for s in sinks))
    try:
        while not stop.is_set():
            batches = consumer.poll(timeout_ms=500)
            for records in batches.values():
                for message in records:
                    try:
                        event = SLA_EVENT_ADAPTER.validate_json(message.value or b"")
                    except ValidationError as exc:
                        log.warning("skipping undecodable SLA event at offset %s: %s", message.offset, exc)
                        continue
                    for worker in workers:
                        worker.offer(event)
            if batches:
                consumer.commit()
    finally:
        consumer.close()
        for worker in workers:
            worker.stop()
