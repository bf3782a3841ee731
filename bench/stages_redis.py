"""Redis stages: the recorder vs a bare pipelined loop, bytes per open ticket, monitor passes, dashboard.

Recorder: N routings pre-loaded on ``tickets.routed``, then ``ztc recorder``
started; timed from the first ticket in Redis to the N-th (start-up not
counted). The baseline writes the same routings as a bare loop, one pipeline
(SET the JSON + ZADD an index) per ticket, from this process, once before and
once after the recorder's run (their mean: a loop waiting on round trips
speeds up and slows down with the machine's load far more than a busy worker).

Bytes per open ticket: Redis ``used_memory`` after the recorder minus before,
over N; the baseline is the ticket's JSON alone (mean STRLEN of its key).
"""

from __future__ import annotations

import asyncio
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import redis

from bench.context import Context
from bench.kafka_io import produce_all
from bench.monitor_latency import LEAD_S, detection_latencies
from bench.payloads import routed_events
from bench.report import Figure, Row, StageResult, at_least, at_most
from bench.stack import cpu_seconds, stop
from consumers.access import write_demo_keys
from consumers.inbox_index import WALK_LIMIT
from consumers.monitor import Monitor
from consumers.redis_batch import TicketKeys
from consumers.redis_read_model import ReadModelKeys
from consumers.sla_engine import SlaBook
from consumers.sla_publisher import ProducerPublisher
from consumers.ticket_store import RedisTicketStore
from deploy.embedded import free_port
from schemas.events import DISTRICT_ZONE, TicketRouted, now_in_district
from schemas.settings import Settings
from schemas.ticket import InboxBucket
from schemas.ticket_storage import DICTIONARY_1, FORMAT_1, LEVEL, MEMORY_LEVEL, WINDOW_BITS, record_json
from tests.chaos.inputs import add_dispatcher
from ztc.services import worker_producer


def _events(ctx: Context, count: int) -> list[TicketRouted]:
    return ctx.cached(
        ("routed", count), lambda: routed_events("recorded", count, ctx.stack.policy, ctx.model)
    )


def _used_memory(client: redis.Redis) -> int:
    info: dict[str, Any] = client.info("memory")
    return int(info["used_memory"])


def _bare_loop(client: redis.Redis, prefix: str, events: list[TicketRouted]) -> float:
    payloads = [(e.ticket_id, e.model_dump_json(), e.occurred_at.timestamp()) for e in events]
    began = time.perf_counter()
    for ticket_id, value, score in payloads:
        pipe = client.pipeline(transaction=False)
        pipe.set(f"{prefix}bare:ticket:{ticket_id}", value)
        pipe.zadd(f"{prefix}bare:tickets", {ticket_id: score})
        pipe.execute()
    rate = len(payloads) / (time.perf_counter() - began)
    for i in range(0, len(payloads), 1000):
        client.delete(*[f"{prefix}bare:ticket:{t}" for t, _, _ in payloads[i : i + 1000]])
    client.delete(f"{prefix}bare:tickets")
    return rate


def _key_group(key: str, prefix: str) -> str:
    """``ticket:ZTC-…`` → ``ticket:*``: the key's shape with ids, codes and names replaced."""
    rest = key.removeprefix(prefix)
    rest = re.sub(r"ZTC-\d{8}-[0-9A-F]+", "*", rest)
    parts = rest.split(":")
    named = ("dept", "inbox", "enterprise", "ent", "project", "proj", "message", "msg", "outbox")
    if parts[0] in named and len(parts) > 1:
        parts[1:] = ["*"] + (parts[2:] if parts[0] in ("dept", "inbox") else [])
    elif parts[0] == "rm" and len(parts) > 2:  # rm:first:{department}:{level}, rm:day:{day}, ...
        parts[2:] = ["*"]
    return ":".join(parts)


def _breakdown(client: redis.Redis, prefix: str, tickets: int) -> dict[str, float]:
    """Bytes per ticket by key shape (MEMORY USAGE, every key)."""
    sizes: Counter[str] = Counter()
    keys = [k.decode() for k in client.scan_iter(match=f"{prefix}*", count=2000)]
    for i in range(0, len(keys), 1000):
        chunk = keys[i : i + 1000]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.memory_usage(key, samples=0)
        for key, size in zip(chunk, pipe.execute(), strict=True):
            sizes[_key_group(key, prefix)] += int(size or 0)
    return {group: round(total / tickets, 1) for group, total in sizes.most_common()}


def _json_bytes(client: redis.Redis, prefix: str) -> float:
    keys = [
        k for _, k in zip(range(200), client.scan_iter(match=f"{prefix}ticket:*", count=500), strict=False)
    ]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.strlen(key)
    lengths = [int(n) for n in pipe.execute()]
    return sum(lengths) / max(1, len(lengths))


def _recorder_once(
    ctx: Context, events: list[TicketRouted], breakdown: bool
) -> dict[str, float | dict[str, float]]:
    settings, env = ctx.stack.fresh("recorder")
    client = ctx.stack.redis(settings)
    prefix = settings.redis_prefix
    bare_before = _bare_loop(client, prefix, events)
    records = [(e.ticket_id.encode(), e.model_dump_json().encode()) for e in events]
    asyncio.run(produce_all(ctx.stack.bootstrap, settings.topics.routed, records))
    before = _used_memory(client)
    open_counts = ReadModelKeys(prefix).open  # lead → open tickets: every routing recorded counts once
    child = ctx.stack.worker("recorder", env)
    first: tuple[float, int, float] | None = None
    last_change, seen = time.monotonic(), 0
    try:
        while True:
            count = sum(int(v) for v in client.hvals(open_counts))
            now = time.monotonic()
            if count and first is None:
                first = (now, count, cpu_seconds(child.pid))
            if count != seen:
                seen, last_change = count, now
            if count >= len(events) or now - last_change > 60:
                break
            time.sleep(0.05)
        end, cpu_end = time.monotonic(), cpu_seconds(child.pid)
    finally:
        stop(child)
    assert first is not None, "the recorder recorded nothing"
    counted = seen - first[1]
    out: dict[str, float | dict[str, float]] = {
        "recorder": counted / (end - first[0]),
        "cpu_ms": 1000 * (cpu_end - first[2]) / max(1, counted),
        "bytes": (_used_memory(client) - before) / seen,
        "json": _json_bytes(client, prefix),
        "complete": float(seen >= len(events)),
    }
    if breakdown:
        out["breakdown"] = _breakdown(client, prefix, seen)
    # the loop once more now the recorder is done: the machine's load moves a latency-bound loop
    # much more than a busy worker, so its mean around the recorder's run is the fairer baseline
    out["bare"] = (bare_before + _bare_loop(client, prefix, events)) / 2
    client.flushdb()
    return out


def recorder_stage(ctx: Context) -> StageResult:
    result = StageResult("recorder")
    events = _events(ctx, ctx.options.tickets)
    runs = [_recorder_once(ctx, events, rep == ctx.options.repeat - 1) for rep in range(ctx.options.repeat)]

    def figure(name: str, unit: str) -> Figure:
        return Figure.of([v for r in runs if isinstance(v := r[name], float)], unit)

    if not all(r["complete"] for r in runs):
        result.notes.append("a recorder run stopped making progress for 60 s before recording every ticket")
    result.extra["bytes_per_ticket_by_key"] = runs[-1].get("breakdown", {})
    result.extra["recorder_cpu_ms_per_ticket"] = figure("cpu_ms", "ms").as_json()
    result.rows += [
        Row(
            "recorder",
            f"{len(events):,} pre-loaded: routed → Redis",
            figure("recorder", "tickets/s"),
            figure("bare", "tickets/s"),
            "bare loop, SET JSON + ZADD per ticket",
            at_least(0.5),
        ),
        Row(
            "redis-bytes",
            "Redis per open ticket (used_memory Δ / N)",
            figure("bytes", "B"),
            figure("json", "B"),
            "the ticket's JSON alone",
            at_most(2000, on="ztc", text="≤ 2,000 B"),
        ),
    ]
    return result


# ------------------------------------------------------------------ monitor


def _fill_open(client: redis.Redis, due_key: str, count: int, after: float) -> None:
    """``count`` open tickets as the monitor sees them: one due entry each, all after ``after``."""
    chunk: dict[str, float] = {}
    for n in range(count):
        chunk[f"ZTC-20990101-{n:012X}"] = after + 86_400 + n % 3_600
        if len(chunk) >= 20_000:
            client.zadd(due_key, chunk)
            chunk = {}
    if chunk:
        client.zadd(due_key, chunk)


@dataclass
class _MonitorCase:
    """One (open, due) case: its measurements over the repetitions."""

    due_alerts: int = 0
    passes: int = 0
    pass_s: list[float] = field(default_factory=list)
    """seconds of ``run_pass`` at the due moment, pass after pass, until every due alert was emitted"""
    latency_s: list[list[float]] = field(default_factory=list)
    """per repetition, each due alert's acknowledgement minus its due time, by the real loop"""
    index_bytes: float = 0.0
    """the due index's used_memory growth per entry while filling it with the open tickets"""
    index_usage: float = 0.0
    """MEMORY USAGE of the due index / ZCARD"""


def _reset(client: redis.Redis, settings: Settings, due_key: str, scheduled: dict[str, float]) -> None:
    """The due tickets' entries back where the recorder put them, and no lease left."""
    client.zadd(due_key, scheduled)
    for key in client.scan_iter(match=f"{settings.redis_prefix}sla:claim:*", count=1000):
        client.delete(key)


def _monitor_case(ctx: Context, open_count: int, due: int) -> _MonitorCase:
    """``max(due, 1)`` routings are recorded for real (real records, real schedules); with ``due`` > 0
    the passes run at the moment the last of them has its first alert due, with 0 just before the first.
    The loop is timed only with ``due`` > 0 (``monitor_latency``)."""
    settings, _ = ctx.stack.fresh("monitor")
    client = ctx.stack.redis(settings)
    book = SlaBook(ctx.stack.policy)
    store = RedisTicketStore(client, settings.redis_prefix, book)
    recorded = _events(ctx, max(due, 1))
    for event in recorded:
        store.record(event)
    entries: list[Any] = client.zrange(store.sla_due_key, 0, -1, withscores=True)
    scheduled = {bytes(member).decode(): float(score) for member, score in entries}  # one per ticket
    moment = max(scheduled.values()) if due else min(scheduled.values()) - 1
    before = _used_memory(client)
    _fill_open(client, store.sla_due_key, open_count - len(recorded), moment)
    case = _MonitorCase(index_bytes=(_used_memory(client) - before) / max(1, open_count - len(recorded)))
    usage: Any = client.memory_usage(store.sla_due_key, samples=0)
    case.index_usage = int(usage or 0) / max(1, int(client.zcard(store.sla_due_key)))
    fire_at = {
        a.key: a.fire_at.timestamp() for r in store.get_many(list(scheduled)) for a in book.schedule(r)
    }
    fire_at = {key: at for key, at in fire_at.items() if at <= moment}
    case.due_alerts = len(fire_at)
    producer = worker_producer(settings)
    publisher = ProducerPublisher(producer)  # as ``ztc monitor`` publishes
    now = datetime.fromtimestamp(moment + 0.5, tz=now_in_district().tzinfo)
    try:
        for _ in range(ctx.options.repeat):
            _reset(client, settings, store.sla_due_key, scheduled)
            monitor = Monitor(store.sla_schedule, book, publisher, settings.topics.sla)
            began = time.perf_counter()
            case.passes = 0
            while True:
                case.passes += 1
                if not monitor.run_pass(now):
                    break
            case.pass_s.append(time.perf_counter() - began)
            if due:
                _reset(client, settings, store.sla_due_key, scheduled)
                monitor = Monitor(store.sla_schedule, book, publisher, settings.topics.sla)
                case.latency_s.append(detection_latencies(monitor, publisher, fire_at))
    finally:
        producer.close()
        client.flushdb()
    return case


def _monitor_rows(open_count: int, due: int, case: _MonitorCase) -> list[Row]:
    what = f"{open_count:,} open, {due:,} due"
    rows = [
        Row(
            "monitor",
            f"{what} ({case.due_alerts:,} alerts): passes until all emitted",
            Figure.of([1000 * s for s in case.pass_s], "ms"),
            goal=at_most(1000, on="ztc", text="≤ 1 s"),
        )
    ]
    if case.latency_s:
        rows.append(
            Row(
                "monitor",
                f"{what}: the last alert acknowledged after its due time (real loop)",
                Figure.of([1000 * max(run) for run in case.latency_s], "ms"),
                goal=at_most(1000, on="ztc", text="≤ 1 s"),
            )
        )
    return rows


def monitor_stage(ctx: Context) -> StageResult:
    result = StageResult("monitor")
    for open_count in ctx.options.monitor_open:
        index: list[float] = []
        for due in ctx.options.monitor_due:
            case = _monitor_case(ctx, open_count, due)
            index.append(case.index_bytes)
            result.extra[f"{open_count}/{due}"] = {
                "due_alerts": case.due_alerts,
                "passes": case.passes,
                "due_index_bytes_per_entry": round(case.index_bytes, 1),
                "due_index_memory_usage_per_entry": round(case.index_usage, 1),
                "latency_ms": [[round(1000 * v, 1) for v in run] for run in case.latency_s],
            }
            result.rows += _monitor_rows(open_count, due, case)
        per_entry = Figure.of(index, "B")
        result.rows.append(Row("monitor", f"due index, {open_count:,} open: bytes per entry", per_entry))
    result.notes += [
        "open tickets are one entry each in the due index (all a pass reads of a ticket not due); due ones "
        "are recorded tickets, all with their first alert at one moment; 'passes until all emitted': "
        "run_pass at that moment until nothing is left",
        "'acknowledged after its due time': the real Monitor.run loop (sleeping until the earliest entry, "
        f"at most 1 s) started {LEAD_S} s before the moment on a shifted wall clock, publishing through the "
        "real producer; per alert, broker acknowledgement minus due time (max over the alerts shown)",
        "bytes per entry: used_memory growth while the open tickets' entries are added, / their number",
    ]
    if max(ctx.options.monitor_open) < 1_000_000:
        result.notes.append("1,000,000 open tickets not measured: add --million (about 130 MB of Redis)")
    return result


# ------------------------------------------------------------------ dashboard and /metrics

FILL_ROUTED_AT = datetime(2030, 3, 12, 9, 0, tzinfo=DISTRICT_ZONE)
"""When the web stage's tickets are submitted and routed: a fixed working Tuesday, so that what the
dashboard reads does not depend on when the bench runs (the default policy: accept warned Wednesday
14:36, due Wednesday 17:30; the at-risk reach, the longest warning-to-deadline lead, is 30 hours).
In the future of any run, so the pages read at the wall clock (/work, /metrics) see them open and
not yet due, as they saw the fresh tickets before."""
DASHBOARD_MOMENTS = (
    FILL_ROUTED_AT + timedelta(minutes=10),  # the reach ends before the accept deadlines
    FILL_ROUTED_AT.replace(hour=16, minute=45),  # late in the day: the reach holds every accept stage
    FILL_ROUTED_AT + timedelta(days=1, hours=6),  # the next day 15:00: every accept stage at risk
)
"""The moments ``GET /dashboard?now=…`` is read at (issue 11: 13.2 ms at 13:45, 666 ms at 16:33)."""


def _fill_tickets(client: redis.Redis, store: RedisTicketStore, ctx: Context, count: int) -> None:
    templates = ctx.cached(
        ("routed-at", 200, FILL_ROUTED_AT),
        lambda: routed_events("dashboard", 200, ctx.stack.policy, ctx.model, FILL_ROUTED_AT),
    )
    for event in templates:
        store.record(event)
    raws: list[Any] = [client.get(f"{store.prefix}ticket:{e.ticket_id}") for e in templates]
    stored = [(e.ticket_id, record_json(bytes(raw))) for e, raw in zip(templates, raws, strict=True)]
    packer = zlib.compressobj(LEVEL, zlib.DEFLATED, WINDOW_BITS, MEMORY_LEVEL, zdict=DICTIONARY_1)
    pipe = client.pipeline(transaction=False)
    for n in range(count - len(templates)):
        ticket_id, text = stored[n % len(stored)]
        new_id = f"{ticket_id[:13]}{n:012X}"
        copy = packer.copy()  # stored compressed (format 1): the id is replaced in the JSON, then packed
        packed = copy.compress(text.replace(ticket_id.encode(), new_id.encode())) + copy.flush()
        pipe.set(f"{store.prefix}ticket:{new_id}", FORMAT_1 + packed)
        pipe.zadd(f"{store.prefix}tickets", {new_id: 1_800_000_000 + n})
        if n % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def _timed_get(client: httpx.Client, path: str, times: int) -> list[float]:
    client.get(path).raise_for_status()  # warm
    out = []
    for _ in range(times):
        began = time.perf_counter()
        client.get(path).raise_for_status()
        out.append(1000 * (time.perf_counter() - began))
    return out


def _dashboard_state(client: redis.Redis, store: RedisTicketStore, now: datetime) -> str:
    """What the read model holds for the dashboard at ``now``: stages due within the at-risk reach
    (what ``stage_counts`` and ``stages`` read), at risk, overdue."""
    keys = ReadModelKeys(store.prefix)
    leads: dict[Any, Any] = client.hgetall(keys.leads)
    reach = 3600 * max((int(h) for h, n in leads.items() if int(n) > 0), default=0)
    groups = store.reports.groups()
    counts = store.reports.stage_counts(groups, now).values()
    at = now.timestamp()
    window = sum(int(client.zcount(key, at, at + reach)) for g in groups for key in keys.stage_sets(g))
    at_risk, overdue = sum(c.at_risk for c in counts), sum(c.overdue for c in counts)
    return f"reach holds {window:,} stages, {at_risk:,} at risk, {overdue:,} overdue"


def _dashboards(
    http: httpx.Client, client: redis.Redis, store: RedisTicketStore, times: int
) -> list[tuple[str, list[float]]]:
    """(label, ms) of ``GET /dashboard?now=…`` at each of ``DASHBOARD_MOMENTS``."""
    out = []
    for now in DASHBOARD_MOMENTS:
        day = "routing day" if now.date() == FILL_ROUTED_AT.date() else "next day"
        label = f"GET /dashboard at {now:%H:%M} {day} ({_dashboard_state(client, store, now)})"
        out.append((label, _timed_get(http, f"/dashboard?now={quote(now.isoformat())}", times)))
    return out


def _sign_in(http: httpx.Client, env: dict[str, str]) -> None:
    """An office dispatcher made with ``ztc user add``, signed in through the form as a browser does."""
    password = add_dispatcher(env, "bench-office")
    found = re.search(r'name="csrf" value="([^"]+)"', http.get("/dashboard/login").text)
    assert found is not None, "no sign-in form"
    form = {"username": "bench-office", "password": password, "csrf": found.group(1), "next": "/dashboard"}
    answer = http.post("/dashboard/login", data=form)
    assert answer.status_code == 303, f"sign-in refused: {answer.status_code}"


def _biggest_inbox(client: redis.Redis, prefix: str, departments: tuple[str, ...]) -> tuple[str, int]:
    """The department whose 'new' bucket holds the most tickets, and how many."""
    keys = TicketKeys(prefix)
    sizes = {d: int(client.zcard(keys.inbox(d, InboxBucket.new))) for d in departments}
    department = max(sizes, key=lambda d: sizes[d])
    return department, sizes[department]


def _list_pages(department: str, size: int) -> list[tuple[str, str]]:
    """(label, path) of the list pages measured: /work first, deep, overdue, a search; /desk."""
    deep = max(0, size - 40)
    return [
        (f"GET /work, first page of {size:,} new", f"/work?department={department}"),
        (f"GET /work, page at {deep:,} of {size:,}", f"/work?department={department}&start={deep}"),
        ("GET /work, overdue only", f"/work?department={department}&overdue=1"),
        (
            f"GET /work, a search found nowhere (walks {WALK_LIMIT:,} entries)",
            f"/work?department={department}&q=%E6%97%A0%E6%AD%A4%E4%BC%81%E4%B8%9A",
        ),
        ("GET /desk (triage queue, every inbox's size)", "/desk"),
        (
            f"GET /work.xlsx, export of the first {min(size, 5000):,} rows",
            f"/work.xlsx?department={department}",
        ),
    ]


def web_stage(ctx: Context) -> StageResult:
    result = StageResult("web")
    settings, env = ctx.stack.fresh("web")
    client = ctx.stack.redis(settings)
    store = RedisTicketStore(client, settings.redis_prefix, SlaBook(ctx.stack.policy))
    count = ctx.options.web_tickets
    _fill_tickets(client, store, ctx, count)
    began = time.perf_counter()
    store.rebuild_read_model()
    reindex_s = time.perf_counter() - began
    keys_file = ctx.stack.data_dir / f"keys-{settings.group_prefix}.toml"
    write_demo_keys(keys_file, ctx.stack.policy.department_codes)  # the API still reads a keys file
    port = free_port()
    child = ctx.stack.worker("api", env | {"ZTC_API_PORT": str(port), "ZTC_API_KEYS": str(keys_file)})
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            _wait_healthy(http)
            _sign_in(http, env)
            times = max(3, ctx.options.repeat)
            health = _timed_get(http, "/healthz", times)
            dashboards = _dashboards(http, client, store, times)
            metrics = _timed_get(http, "/metrics", times)
            department, size = _biggest_inbox(
                client, settings.redis_prefix, ctx.stack.policy.department_codes
            )
            lists = [(label, _timed_get(http, path, times)) for label, path in _list_pages(department, size)]
    finally:
        stop(child)
        client.flushdb()
    pages = [*dashboards, ("GET /metrics", metrics), *lists]
    result.rows += [
        Row(
            "web",
            f"{label}, {count:,} tickets",
            Figure.of(ms, "ms"),
            Figure.of(health, "ms"),
            "GET /healthz, same server",
        )
        for label, ms in pages
    ]
    reindex = Figure.of([reindex_s], "s")
    result.rows.append(Row("web", f"ztc reindex (read model), {count:,} tickets", reindex))
    result.notes.append(
        f"tickets behind the dashboard: 200 routed {FILL_ROUTED_AT:%Y-%m-%d %H:%M} (a Tuesday) and recorded, "
        "the rest copies of them under new ids; /dashboard read as of fixed moments (?now=), the other "
        "pages at the wall clock"
    )
    result.notes.append(
        f"/work read by an office dispatcher for the department with the most new tickets ({department}); "
        "a clerk's own inbox is the same reads"
    )
    return result


def _wait_healthy(http: httpx.Client, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError("ztc api did not answer /healthz")
