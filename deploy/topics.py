"""Create ZTC's topics up front, so producers and consumers never race auto-creation."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

log = logging.getLogger(__name__)


def ensure_topics(
    bootstrap: str,
    names: tuple[str, ...],
    partitions: int,
    replication_factor: int = 1,
    timeout_s: float = 20.0,
    client_options: Mapping[str, Any] | None = None,
) -> None:
    """Create every missing topic; retry while the broker is still starting.

    ``client_options``: the admin client's security options (``Settings.kafka_client_options``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=5000, **dict(client_options or {})
            )
            break
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise
            log.info("broker not ready (%s); retrying", exc)
            time.sleep(0.3)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            new_topics = [NewTopic(n, partitions, replication_factor) for n in missing]
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new_topics)
            log.info("created %d topics", len(missing))
    finally:
        admin.close()
