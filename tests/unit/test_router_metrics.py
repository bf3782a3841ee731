"""The router's metrics: its own counters in an injected registry, named as the other workers' are."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from consumers import metrics as consumer_metrics
from streams.classifier import ModelIdentity
from streams.metrics import RouterMetrics
from ztc.services import router_registry


def shape(counter: Counter) -> tuple[object, ...]:
    (family,) = counter.describe()
    return family.name, family.documentation, family.type, tuple(counter._labelnames)


def test_the_router_counts_under_the_names_and_labels_the_other_workers_use() -> None:
    router = RouterMetrics.registered_in(CollectorRegistry())
    assert shape(router.events_in) == shape(consumer_metrics.EVENTS_IN)
    assert shape(router.events_out) == shape(consumer_metrics.EVENTS_OUT)
    assert shape(router.dead_letters) == shape(consumer_metrics.DEAD_LETTERS)
    assert [m.name for m in router.routing_latency.describe()] == ["ztc_routing_latency_seconds"]


def test_each_registry_gets_its_own_counters() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    RouterMetrics.registered_in(first).events_in.labels(topic="tickets.submitted").inc()
    RouterMetrics.registered_in(second)
    assert first.get_sample_value("ztc_events_in_total", {"topic": "tickets.submitted"}) == 1.0
    assert second.get_sample_value("ztc_events_in_total", {"topic": "tickets.submitted"}) is None


def test_the_router_process_serves_every_family_once_with_the_process_collectors() -> None:
    registry, counts = router_registry()
    counts.events_in.labels(topic="tickets.submitted").inc()
    counts.events_out.labels(topic="tickets.routed").inc()
    counts.dead_letters.labels(stage="validate").inc()
    counts.routing_latency.observe(0.2)
    text = generate_latest(registry).decode()
    types = [line for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types))
    assert 'ztc_events_in_total{topic="tickets.submitted"} 1.0' in text
    assert 'ztc_events_out_total{topic="tickets.routed"} 1.0' in text
    assert 'ztc_dead_letters_total{stage="validate"} 1.0' in text
    assert 'ztc_routing_latency_seconds_bucket{le="0.25"} 1.0' in text
    assert "python_info" in text and "python_gc_objects_collected_total" in text


def test_the_router_reports_the_one_model_it_routes_with() -> None:
    registry, counts = router_registry()
    counts.show_model(ModelIdentity("2026.11-a", "ab" * 32))
    counts.show_model(ModelIdentity("office-2026-11", "cd" * 32))
    samples = next(s for s in registry.collect() if s.name == "ztc_router_model_info").samples
    assert [(s.labels, s.value) for s in samples] == [
        ({"version": "office-2026-11", "sha256": "cd" * 32}, 1.0)
    ]
    counts.show_model(None)
    assert registry.get_sample_value("ztc_router_model_info", {"version": "none", "sha256": ""}) == 1.0
