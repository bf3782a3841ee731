"""Benchmark: the recorder's Redis work against a bare pipelined Redis loop, and Redis bytes per open ticket.

Both sides get the same realistic routed tickets (the chaos suite's ~950-byte
Chinese submissions, routed by ``route_ticket`` under the default policy and
model) as the bytes the recorder reads from ``tickets.routed``, in polls of
``batch`` messages, measured in the same run against the same Redis:

- **bare**: per poll, ``json.loads`` each message and one pipeline of the
  recorder's writes of every ticket, as the store lays them out (``bare_loop``),
  without any of its decisions;
- **per_event**: ``RecorderStep.handle`` message by message (parse, check,
  ``store.record``: a WATCH/MULTI transaction per event) — the recorder before
  issue 11;
- **batched**: ``RecorderStep.handle_batch`` per poll (when the step has it).

Footprint: the sum of ``MEMORY USAGE`` over every key under the run's prefix
(ticket, claim, indexes, SLA due index, read model) divided by the tickets, the
``used_memory`` delta per ticket, the due index alone and the ticket JSON alone.
No Kafka here: the loop's poll/commit around the step is the same for both.

    PYTHONPATH=. .venv/bin/python bench/recorder_bench.py [--n 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import redis

from consumers.dead_letters import RedisDeadLetterStore
from consumers.recorder import RecorderStep
from consumers.sla_engine import SlaBook
from consumers.ticket_store import RedisTicketStore
from deploy.embedded import EmbeddedStack, free_port
from producers.publisher import build_submission
from schemas.events import now_in_district
from schemas.outbox import message_claim
from schemas.settings import Settings
from streams.routing import route_ticket
from tests.chaos.tickets import ticket_body
from ztc.bootstrap import model_for, policy_for

BATCH = 500


@dataclass(frozen=True)
class Message:
    """A consumed record as the recorder's step reads it."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


def routed_messages(settings: Settings, n: int, tag: str) -> list[Message]:
    """``n`` realistic routed tickets as the bytes on ``tickets.routed``."""
    policy = policy_for(settings)
    model = model_for(settings, policy)
    now = now_in_district()
    out = []
    for i in range(n):
        body = ticket_body(tag, i, 0)
        submission = build_submission({**body, "channel": "api"}, now - timedelta(seconds=n - i))
        event = route_ticket(submission, policy, submission.submitted_at, model=model)
        out.append(Message(settings.topics.routed, 0, i, event.model_dump_json().encode()))
    return out


def _chunks(messages: Sequence[Message], size: int) -> Iterator[Sequence[Message]]:
    for start in range(0, len(messages), size):
        yield messages[start : start + size]


def _score(text: str | None, default: float) -> float:
    if not text:
        return default
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def bare_loop(client: redis.Redis, prefix: str, messages: Sequence[Message], batch: int = BATCH) -> None:
    """The recorder's writes of each ticket, without its decisions: one pipeline per poll.

    As the store lays them out: the ticket's JSON, its channel message's claim in one of
    the claim hashes, its id in each department's inbox set and its enterprise's set, one
    SLA due entry, and each SLA stage in the read model's first / later sets.
    """
    for chunk in _chunks(messages, batch):
        with client.pipeline(transaction=False) as pipe:
            for message in chunk:
                raw = message.value or b""
                event = json.loads(raw)
                ticket_id = event["ticket_id"]
                score = _score(event["occurred_at"], 0.0)
                submission = event["submission"]
                lead = event["lead_department"]
                pipe.set(f"{prefix}ticket:{ticket_id}", raw)
                bucket, digest = message_claim(
                    prefix, f"{submission['channel']}:{submission['channel_message_id']}"
                )
                pipe.hset(bucket, digest, ticket_id)
                for department in (lead, *event["co_departments"]):
                    pipe.sadd(f"{prefix}inbox:{department}:new", ticket_id)
                if submission.get("enterprise_name"):
                    pipe.sadd(f"{prefix}ent:name:{submission['enterprise_name']}", ticket_id)
                accept, resolve = (_score(event.get(f"{s}_due_at"), score) for s in ("accept", "resolve"))
                pipe.zadd(f"{prefix}sla:due", {ticket_id: accept})
                pipe.zadd(f"{prefix}rm:first:{lead}:0", {f"{ticket_id}:accept:0": accept})
                pipe.zadd(f"{prefix}rm:later:{lead}:0", {f"{ticket_id}:resolve:0": resolve})
            pipe.execute()


def _step(settings: Settings, client: redis.Redis, prefix: str) -> RecorderStep:
    store = RedisTicketStore(client, prefix, SlaBook(policy_for(settings)))  # its own, cold caches
    return RecorderStep(settings, store, RedisDeadLetterStore(client, prefix), now_in_district)


def per_event(step: RecorderStep, messages: Sequence[Message]) -> None:
    stop = threading.Event()
    for message in messages:
        step.handle(message, stop)


def batched(step: RecorderStep, messages: Sequence[Message], batch: int = BATCH) -> None:
    stop = threading.Event()
    handle_batch: Callable[[Sequence[Message], threading.Event], Any] = step.handle_batch
    for chunk in _chunks(messages, batch):
        handle_batch(chunk, stop)


def _keys(client: redis.Redis, prefix: str) -> list[bytes]:
    return list(client.scan_iter(match=f"{prefix}*", count=5000))


def footprint(client: redis.Redis, prefix: str, n: int, used_before: int) -> dict[str, float]:
    """Bytes per ticket: every key under ``prefix``, the due index, the tickets, the used_memory delta."""
    used_after = int(client.info("memory")["used_memory"])
    keys = _keys(client, prefix)
    total = due = tickets = 0
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.memory_usage(key, samples=0)
        sizes = pipe.execute()
    for key, size in zip(keys, sizes, strict=True):
        text = key.decode()
        total += int(size or 0)
        if text.endswith("sla:due"):
            due += int(size or 0)
        elif text.startswith(f"{prefix}ticket:"):
            tickets += int(size or 0)
    return {
        "redis_bytes_per_open_ticket": total / n,
        "used_memory_delta_per_ticket": (used_after - used_before) / n,
        "sla_due_bytes_per_ticket": due / n,
        "ticket_key_bytes_per_ticket": tickets / n,
        "keys": len(keys),
    }


def _drop(client: redis.Redis, prefix: str) -> None:
    keys = _keys(client, prefix)
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def _timed(run: Callable[[], None], n: int) -> float:
    started = time.perf_counter()
    run()
    return n / (time.perf_counter() - started)


def measure_recorder(redis_url: str, n: int = 5000, repeat: int = 1, batch: int = BATCH) -> dict[str, Any]:
    """Tickets/s of the bare loop, the per-event recorder and the batched one; bytes per open ticket.

    Every repetition runs the three side by side (fresh prefixes), so machine load hits
    them alike; figures are medians with their range.
    """
    settings = Settings(redis_url=redis_url)
    client = redis.Redis.from_url(redis_url)
    messages = routed_messages(settings, n, uuid.uuid4().hex[:6])
    json_bytes = statistics.mean(len(m.value or b"") for m in messages)
    rates: dict[str, list[float]] = {"bare": [], "per_event": [], "batched": []}
    sizes: dict[str, dict[str, float]] = {}
    has_batch = hasattr(RecorderStep, "handle_batch")
    for _ in range(repeat):
        for name in rates:
            if name == "batched" and not has_batch:
                continue
            prefix = f"b{uuid.uuid4().hex[:3]}:"
            used = int(client.info("memory")["used_memory"])
            if name == "bare":
                rates[name].append(_timed(partial(bare_loop, client, prefix, messages, batch), n))
            else:
                step = _step(settings, client, prefix)
                run = per_event if name == "per_event" else batched
                rates[name].append(_timed(partial(run, step, messages), n))
            sizes[name] = footprint(client, prefix, n, used)
            _drop(client, prefix)
    return _summary(rates, sizes, json_bytes, n, batch)


def _summary(
    rates: dict[str, list[float]], sizes: dict[str, dict[str, float]], json_bytes: float, n: int, batch: int
) -> dict[str, Any]:
    median = {k: statistics.median(v) for k, v in rates.items() if v}
    out: dict[str, Any] = {
        "tickets": n,
        "batch": batch,
        "tickets_per_s": {k: round(v) for k, v in median.items()},
        "range": {k: [round(min(v)), round(max(v))] for k, v in rates.items() if v},
        "ratio_to_bare": {k: round(v / median["bare"], 3) for k, v in median.items() if k != "bare"},
        "routed_event_json_bytes": round(json_bytes),
        "footprint": {k: {f: round(x) for f, x in v.items()} for k, v in sizes.items()},
        "load_1min": round(os.getloadavg()[0], 2),
    }
    recorder = "batched" if "batched" in sizes else "per_event"
    out["redis_bytes_per_open_ticket"] = out["footprint"][recorder]["redis_bytes_per_open_ticket"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--redis-url", help="an existing Redis (default: start an embedded stack)")
    args = parser.parse_args()
    if args.redis_url:
        print(json.dumps(measure_recorder(args.redis_url, args.n, args.repeat, args.batch), indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="ztc-bench-") as tmp:
        stack = EmbeddedStack(Path(tmp), free_port(), free_port())
        stack.up()
        try:
            print(json.dumps(measure_recorder(stack.redis_url, args.n, args.repeat, args.batch), indent=2))
        finally:
            stack.down()


if __name__ == "__main__":
    main()
