"""Prometheus metrics: what the consumer-side workers and the gateway count, and how to expose it.

The counters live in prometheus-client's default registry (metric objects, not
clients: nothing connects at import); the recorder, monitor, alerter and the
gateway each run in their own process and count into it. The router owns its
own counters (``streams.metrics.RouterMetrics``, same names and labels),
created in a registry ``ztc`` builds for the router's process. A service
exposes a registry with ``start_metrics_server(port, registry=...)``; the
gateway serves the default registry at ``/metrics`` together with
``TicketGauges``, which reads open and overdue tickets per department from the
read model at scrape time (``views.gauges``: a few commands per department,
never every ticket; register it in one process only, so the figures are not
reported twice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    start_http_server,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

EVENTS_IN = Counter("ztc_events_in", "Events consumed, per topic", ["topic"])
EVENTS_OUT = Counter("ztc_events_out", "Events produced, per topic", ["topic"])
DEAD_LETTERS = Counter("ztc_dead_letters", "Inputs sent to the dead-letter topic, per stage", ["stage"])
HTTP_REQUESTS = Counter("ztc_http_requests", "Web edge requests, per route and status", ["route", "status"])


class TicketGauges(Collector):
    """Open and overdue tickets per lead department, read on each scrape.

    ``figures``: department → (open tickets, tickets with an overdue stage).
    """

    def __init__(self, figures: Callable[[], dict[str, tuple[int, int]]]) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        open_gauge = GaugeMetricFamily(
            "ztc_open_tickets", "Open tickets per lead department", labels=["department"]
        )
        overdue_gauge = GaugeMetricFamily(
            "ztc_overdue_tickets",
            "Tickets with an overdue SLA stage per lead department",
            labels=["department"],
        )
        try:
            figures = self.figures()
        except Exception:  # a scrape must answer even when Redis does not
            log.exception("could not compute ticket gauges")
            figures = {}
        for department, (opened, overdue) in sorted(figures.items()):
            open_gauge.add_metric([department], opened)
            overdue_gauge.add_metric([department], overdue)
        yield open_gauge
        yield overdue_gauge


class CountRequests:
    """ASGI middleware: count requests per route template and status (never per raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(route, str(status)).inc()


def exposition(*registries: CollectorRegistry) -> tuple[bytes, str]:
    """The text exposition of the default registry plus ``registries``, and its content type."""
    body = b"".join(generate_latest(r) for r in (REGISTRY, *registries))
    return body, CONTENT_TYPE_LATEST


def start_metrics_server(
    port: int, addr: str = "127.0.0.1", registry: CollectorRegistry | None = None
) -> None:
    """Serve ``registry`` (else the default one) at ``http://addr:port/metrics`` from a daemon thread."""
    start_http_server(port, addr=addr, registry=REGISTRY if registry is None else registry)
    log.info("metrics at http://%s:%d/metrics", addr, port)
