"""The router's Prometheus metrics, registered in the registry its composition root hands over.

The router owns its counters instead of borrowing the consumers' module-level
ones: ``RouterMetrics.registered_in(registry)`` creates them in a
``prometheus_client.CollectorRegistry`` that ``ztc`` builds for the router's
process and serves at ``ZTC_METRICS_PORT`` + 0. Names, help texts and labels
are those the other workers use for the same figures (``consumers.metrics``;
a unit test keeps them equal), so a scrape sums them across processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:  # numpy comes with the classifier: not for every worker that imports this
    from streams.classifier import ModelIdentity

ROUTING_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


@dataclass(frozen=True)
class RouterMetrics:
    """What the router counts: events in and out per topic, dead letters per stage, routing latency,
    and which model it routes with."""

    events_in: Counter
    events_out: Counter
    dead_letters: Counter
    routing_latency: Histogram
    model_info: Gauge
    _children: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False, compare=False)
    """(counter, topic) -> its labelled child: ``labels()`` costs more than the increment itself"""

    def count_in(self, topic: str) -> None:
        self._child("in", topic).inc()

    def count_out(self, topic: str) -> None:
        self._child("out", topic).inc()

    def show_model(self, identity: ModelIdentity | None) -> None:
        """Make ``identity`` the one model the router reports routing with (``None``: rules alone)."""
        self.model_info.clear()
        version, sha256 = (identity.version, identity.sha256) if identity is not None else ("none", "")
        self.model_info.labels(version=version, sha256=sha256).set(1)

    def _child(self, way: str, topic: str) -> Any:
        found = self._children.get((way, topic))
        if found is None:
            counter = self.events_in if way == "in" else self.events_out
            found = self._children[way, topic] = counter.labels(topic=topic)
        return found

    @classmethod
    def registered_in(cls, registry: CollectorRegistry) -> RouterMetrics:
        """Create the router's metrics in ``registry`` (once per registry: names must be unique there)."""
        return cls(
            events_in=Counter("ztc_events_in", "Events consumed, per topic", ["topic"], registry=registry),
            events_out=Counter("ztc_events_out", "Events produced, per topic", ["topic"], registry=registry),
            dead_letters=Counter(
                "ztc_dead_letters",
                "Inputs sent to the dead-letter topic, per stage",
                ["stage"],
                registry=registry,
            ),
            routing_latency=Histogram(
                "ztc_routing_latency_seconds",
                "Time from submission to routing decision",
                buckets=ROUTING_LATENCY_BUCKETS,
                registry=registry,
            ),
            model_info=Gauge(
                "ztc_router_model_info",
                "The model the router routes with (1), by version and SHA-256; version none: rules alone",
                ["version", "sha256"],
                registry=registry,
            ),
        )
