"""The Faust router: two batch handlers over the pure routing steps, one hop per ticket.

    tickets.submitted --route---> tickets.routed + dept.<lead> + dept.<co>...
    tickets.reroute   --reroute-> the same, without the departments that bounced it

Both topics are consumed by the Faust app's consumer group, fetched messages
handed over a batch at a time (``streams.faust_transport``: Faust's per-message
stream path cost four times a bare pipe's CPU, measured): every message is
parsed and validated once, routed, and serialised once (the same bytes go to
``tickets.routed`` and to each department), the whole batch's records are sent
as one record batch per topic partition (``streams.record_batches``), and only
when the broker has acknowledged all of them are the batch's offsets
acknowledged to Faust, which commits them. A routing the broker refuses is
dead-lettered with its reason instead; if even the dead letter cannot be
written the process exits at once, before anything is acknowledged, so a
restart reads the batch again (every output is idempotent downstream).

Repeats of a channel message are filtered early by a bounded in-memory memory
(``SeenMessages``); the recorder is what guarantees one routing per channel
message (see ``streams.router_steps``). Publishers key submissions by their
ticket id, which is derived from the channel message, so copies of one message
share a partition and no re-keying hop is needed. What to send is decided by
the pure steps in ``streams.router_steps`` (unit-tested without Faust).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry

from schemas.policy import RoutingPolicy
from schemas.settings import Settings
from schemas.topics import Consumed
from streams.faust_transport import PromptApp, aiokafka_producer, raw_topic, worker_app
from streams.metrics import RouterMetrics
from streams.model_watch import ModelWatch
from streams.record_batches import BatchSender, RecordSender
from streams.router_steps import Origin, RouterSteps, SeenMessages, StepOutput
from streams.routing import LabelModel

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

BATCH_MAX = 500
"""Messages routed together at most; their records go to the broker together."""
WHAT = {"route": "routing", "reroute": "re-routing"}
UNDELIVERABLE_EXIT = 75
"""Exit status when not even a dead letter could be written (EX_TEMPFAIL: restart and read again)."""
YOUNG_OBJECTS_BEFORE_COLLECTING = 20_000
"""The collector's first threshold while routing (CPython's default, 700, is a fortieth of one batch)."""


class RouterHandlers:
    """Route or re-route a batch of consumed messages; return once every output is acknowledged."""

    def __init__(
        self,
        steps: RouterSteps,
        sender: RecordSender,
        seen: SeenMessages | None = None,
        watch: ModelWatch | None = None,
    ) -> None:
        self.steps = steps
        self.sender = sender
        self.seen = seen if seen is not None else SeenMessages()
        self.watch = watch

    def _switch_model(self) -> None:
        """Between batches: take the model ``ztc classify switch`` made active, if it changed."""
        swap = self.watch.take() if self.watch is not None else None
        if swap is not None:
            self.steps.use_model(swap.model)

    async def route(self, messages: Sequence[Consumed]) -> None:
        self._switch_model()
        outputs = []
        for message in messages:
            where = origin(message)
            out = self.steps.route(message.value, where, self.seen)
            if out.remember is not None:
                self.seen.remember(*out.remember)
            outputs.append((message.value, where, out))
        await self._deliver(outputs, "route")

    async def reroute(self, messages: Sequence[Consumed]) -> None:
        self._switch_model()
        outputs = []
        for message in messages:
            where = origin(message)
            outputs.append((message.value, where, self.steps.reroute(message.value, where)))
        await self._deliver(outputs, "reroute")

    async def _deliver(self, outputs: Sequence[tuple[bytes | None, Origin, StepOutput]], stage: str) -> None:
        """Send every output, then wait for the broker; an output it refuses is dead-lettered."""
        records = [send for _, _, out in outputs for send in out.sends]
        results = await self.sender.send_all(records)
        if results.count(None) == len(results):  # every record acknowledged: the usual case
            return
        outcomes = iter(results)
        letters: list[StepOutput] = []
        for raw, where, out in outputs:
            failure = next((f for f in [next(outcomes) for _ in out.sends] if f is not None), None)
            if failure is not None:
                log.error("sending the %s of %s failed: %r", stage, where, failure)
                reason = f"{WHAT[stage]} failed: {failure!r}"
                letters.append(self.steps.dead_letter(raw, where, reason, stage))
        if not letters:
            return
        written = await self.sender.send_all([send for letter in letters for send in letter.sends])
        if any(outcome is not None for outcome in written):
            _exit_unacknowledged(len(letters))


def build_router_app(
    settings: Settings,
    policy: RoutingPolicy,
    clock: Clock,
    model: LabelModel | None = None,
    metrics: RouterMetrics | None = None,
    watch: ModelWatch | None = None,
) -> PromptApp:
    """Compose the router: app, topics and handlers. Connects nothing until started.

    ``metrics`` are the counters the caller exposes (``ztc`` serves their registry);
    without them the router counts into a registry of its own that nobody scrapes.
    ``watch`` hands over the model ``ztc classify switch`` makes active, between batches.
    """
    counts = metrics if metrics is not None else RouterMetrics.registered_in(CollectorRegistry())
    app = _faust_app(settings)
    names = settings.topics
    steps = RouterSteps(names, policy, clock, counts, model)
    seen = SeenMessages(window=timedelta(days=policy.dedupe_window_days), clock=clock)
    handlers = RouterHandlers(steps, BatchSender(lambda: aiokafka_producer(app)), seen, watch)
    app.subscribe_batches(raw_topic(app, names.submitted), handlers.route)
    app.subscribe_batches(raw_topic(app, names.reroute), handlers.reroute)
    return app


def settle_collector() -> None:
    """Before routing starts: keep the cyclic collector's work in proportion to the tickets.

    A batch of 500 tickets makes ~15,000 short-lived containers (models, dicts, lists); with
    CPython's thresholds the batch's live ones are promoted generation by generation, and each
    full collection walks the ~120,000 objects that live as long as the process (policy, model,
    Faust). ``gc.freeze`` takes those out of every collection; a young generation of
    :data:`YOUNG_OBJECTS_BEFORE_COLLECTING` lets most of a batch die before it is looked at.
    Measured: the router's collector CPU over 10,000 tickets (start-up included) 0.36 -> 0.26 s;
    in the handlers alone (callgrind) a full collection of ~170 M instructions less, and ~1 %
    fewer per ticket after it. A small gain, kept because it costs nothing but a later collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS_BEFORE_COLLECTING, *gc.get_threshold()[1:])


def _faust_app(settings: Settings) -> PromptApp:
    return worker_app(settings, "router", BATCH_MAX, producer_max_batch_size=256 * 1024)


def _exit_unacknowledged(outputs: int) -> None:
    """Some outputs and their dead letters were refused: stop before their offsets are acknowledged."""
    log.critical("the broker refused %d outputs and their dead letters; exiting to read them again", outputs)
    logging.shutdown()
    os._exit(UNDELIVERABLE_EXIT)


def origin(message: Consumed) -> Origin:
    """Where a message was read."""
    return Origin(message.topic, message.partition, message.offset)
