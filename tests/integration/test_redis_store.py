"""The Redis ticket store against a real Redis server, under the shared contract."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from consumers import ticket_store, views
from consumers.access import KeyRing, write_demo_keys
from consumers.account_store import RedisAccountStore
from consumers.accounts import Passwords, add_account
from consumers.inbox_index import InboxIndex, RedisInboxIndex
from consumers.sla_engine import SlaBook, alert_event
from consumers.ticket_store import RecordOutcome, RecordStatus, RedisTicketStore, TicketStore
from consumers.views import LIST_LIMIT
from deploy.embedded import EmbeddedStack
from schemas.events import DISTRICT_ZONE, Event, Priority, TicketRouted
from schemas.feedback import TicketAccepted, TicketResolved
from schemas.outbox import message_claim
from schemas.settings import Settings
from schemas.sla import SLA_EVENT_ADAPTER, SlaEvent, SlaStage
from schemas.ticket import TicketRecord
from streams.routing import route_ticket
from tests.integration.conftest import stack_settings, ztc
from tests.integration.web import PASSWORD, form_token
from tests.unit.batch_contract import BatchContract
from tests.unit.factories import submission
from tests.unit.inbox_contract import InboxContract
from tests.unit.store_contract import FRIDAY_4PM, action, at, routed_at, snapshot
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy
from ztc.web_app import create_app

pytestmark = pytest.mark.integration


class TestRedisTicketStore(BatchContract, InboxContract):
    @pytest.fixture(autouse=True)
    def _redis(self, stack: EmbeddedStack) -> None:
        self.client = redis.Redis.from_url(stack.redis_url)

    def make_store(self, book: SlaBook | None = None) -> TicketStore:
        return RedisTicketStore(self.client, prefix=f"c{uuid.uuid4().hex[:8]}:", book=book)

    def inboxes(self, store: TicketStore) -> InboxIndex:
        assert isinstance(store, RedisTicketStore)
        return RedisInboxIndex(self.client, store.prefix)

    def alerts(self, store: TicketStore) -> list[SlaEvent]:
        assert isinstance(store, RedisTicketStore)
        entries: list[tuple[bytes, dict[bytes, bytes]]] = self.client.xrange(store.alerts_key)  # type: ignore[assignment]
        return [SLA_EVENT_ADAPTER.validate_json(fields[b"event"]) for _, fields in entries]

    def forget_read_model(self, store: TicketStore) -> None:
        assert isinstance(store, RedisTicketStore)
        stale = list(self.client.scan_iter(match=f"{store.prefix}rm:*"))
        if stale:
            self.client.delete(*stale)

    def test_a_batch_that_keeps_losing_races_is_recorded_event_by_event(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = self.make_store(BOOK)
        first = routed_at("R1", FRIDAY_4PM)
        resent = first.model_copy(
            update={
                "ticket_id": "R1-later",
                "event_id": "e-r1-later",
                "submission": first.submission.model_copy(update={"ticket_id": "R1-later"}),
            }
        )
        accept = action(TicketAccepted, "R1", "approval", at(11, 30, 9))
        monkeypatch.setattr(ticket_store, "BATCH_ATTEMPTS", 0)  # as if every batch attempt lost its race
        results = store.record_many([first, accept, resent, accept])
        assert [r.status for r in results if isinstance(r, RecordOutcome)] == [
            RecordStatus.applied,
            RecordStatus.applied,
            RecordStatus.duplicate,
            RecordStatus.duplicate,
        ]
        assert store.get("R1-later") is None and store.ticket_for_message(first.submission.dedupe_key) == "R1"

    def test_another_writer_claiming_a_message_of_the_same_hash_costs_no_retry(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = self.make_store(BOOK)
        assert isinstance(store, RedisTicketStore)
        ours = routed_at("H1", FRIDAY_4PM)
        bucket = store.keys.claim(ours)
        assert bucket is not None
        channel = ours.submission.channel.value
        other = next(  # another channel message whose claim lands in the same hash
            f"H2-{n}"
            for n in range(100_000)
            if message_claim(store.prefix, f"{channel}:H2-{n}")[0] == bucket[0]
        )
        theirs = routed_at(other, FRIDAY_4PM)  # its message id is its ticket id
        real = ticket_store._transition
        attempts = 0

        def racing(old: TicketRecord | None, event: Event, book: SlaBook | None) -> Any:
            nonlocal attempts
            if event.ticket_id == "H1":
                attempts += 1
                if attempts == 1:  # another writer claims its message between our read and our write
                    assert store.record(theirs).status is RecordStatus.applied
            return real(old, event, book)

        monkeypatch.setattr(ticket_store, "_transition", racing)
        assert store.record(ours).status is RecordStatus.applied
        assert attempts == 1  # decided once: a WATCH on the shared hash would have decided it again
        assert store.ticket_for_message(ours.submission.dedupe_key) == "H1"
        assert store.ticket_for_message(theirs.submission.dedupe_key) == theirs.ticket_id


class TestStorageForms:
    """What older recorders wrote still reads, and is rewritten compactly by the next change."""

    @pytest.fixture(autouse=True)
    def _redis(self, stack: EmbeddedStack) -> None:
        self.client = redis.Redis.from_url(stack.redis_url)
        self.store = RedisTicketStore(self.client, prefix=f"s{uuid.uuid4().hex[:8]}:", book=BOOK)

    def routed(self, name: str) -> TicketRouted:
        when = NOW.replace(hour=9)
        sub = submission(ticket_id=name, channel_message_id=name, occurred_at=when, submitted_at=when)
        return route_ticket(sub, POLICY, when, event_id=f"routed-{name}")

    def test_a_ticket_stored_as_plain_json_loads_and_is_updated_compactly(self) -> None:
        routed = self.routed("ST1")
        assert self.store.record(routed).status is RecordStatus.applied
        record = self.store.get("ST1")
        assert record is not None
        key = self.store.keys.ticket("ST1")
        stored = self.client.get(key)
        assert (
            isinstance(stored, bytes)
            and stored[:1] == b"\x01"
            and len(stored) < len(record.model_dump_json())
        )
        self.client.set(key, record.model_dump_json())  # as a recorder before format 1 left it
        assert self.store.get("ST1") == record and self.store.get_many(["ST1"]) == [record]
        accept = TicketAccepted(
            ticket_id="ST1", occurred_at=NOW, department=record.lead_department, actor="张"
        )
        assert self.store.record(accept).status is RecordStatus.applied
        assert self.store.record(routed).status is RecordStatus.duplicate
        again = self.client.get(key)
        assert isinstance(again, bytes) and again[:1] == b"\x01"

    def test_legacy_due_members_are_replaced_by_one_entry_per_ticket_on_reindex(self) -> None:
        self.store.record(self.routed("ST2"))
        record = self.store.get("ST2")
        assert record is not None
        alerts = BOOK.schedule(record)
        due = self.store.sla_due_key
        self.client.delete(due)
        self.client.zadd(due, {a.key: a.fire_at.timestamp() for a in alerts})  # one member per alert
        assert self.store.rebuild_read_model() == 1
        members = self.client.zrange(due, 0, -1, withscores=True)
        assert members == [(b"ST2", min(a.fire_at for a in alerts).timestamp())]


# ---------------------------------------------------------------- what a report costs

POLICY = load_checked_policy(DEFAULT_POLICY)
BOOK = SlaBook(POLICY)
NOW = datetime(2026, 12, 15, 10, 0, tzinfo=DISTRICT_ZONE)
DEPARTMENTS = ("approval", "planning", "construction", "market", "hrss")
CATEGORIES = ("admin_licence", "building_project", "land_planning")


def fill(store: RedisTicketStore, n: int) -> None:
    """``n`` tickets through the store itself: every tenth untouched, escalated, accepted or resolved.

    Ticket i leads with ``DEPARTMENTS[i % 5]``, was routed ``i % 20`` days ago and does
    ``i % 10``'s part, so 10 tickets and 10,000 fill the same departments, levels and days.
    """
    for i in range(n):
        ticket_id = f"ZTC-{n}-{i:06d}"
        when = NOW.replace(hour=9) - timedelta(days=i % 20, minutes=i % 7)
        sub = submission(
            ticket_id=ticket_id, channel_message_id=ticket_id, occurred_at=when, submitted_at=when
        )
        lead = DEPARTMENTS[i % 5]
        routed = TicketRouted(
            ticket_id=ticket_id,
            occurred_at=when,
            submission=sub,
            category=CATEGORIES[i % 3],
            confidence=0.9,
            lead_department=lead,
            priority=Priority.normal,
            policy_version="cost",
        )
        assert store.record(routed).status is RecordStatus.applied
        events: list[Event] = []
        if i % 10 == 1:  # 催办: escalated to level 1 at the accept deadline
            record = store.get(ticket_id)
            assert record is not None
            rung = next(a for a in BOOK.schedule(record) if a.level == 1 and a.stage is SlaStage.accept)
            events.append(alert_event(rung, BOOK, rung.fire_at))
        elif i % 10 in (2, 3):
            events.append(TicketAccepted(ticket_id=ticket_id, occurred_at=when + timedelta(hours=1),
                                         department=lead, actor="张"))  # fmt: skip
            if i % 10 == 3:
                events.append(TicketResolved(ticket_id=ticket_id, occurred_at=when + timedelta(hours=2),
                                             department=lead, actor="张", resolution="已办"))  # fmt: skip
        for event in events:
            assert store.record(event).status is RecordStatus.applied


HANDSHAKE = ("info", "hello", "client", "auth", "select")
"""INFO itself, and what a new pooled connection says first: not the report's reads."""


def commands_run(client: redis.Redis, action: Callable[[], object]) -> Counter[str]:
    """The Redis commands the server executed during ``action`` (INFO commandstats deltas)."""

    def calls() -> Counter[str]:
        stats: dict[str, dict[str, int]] = client.info("commandstats")
        return Counter({name[len("cmdstat_") :]: s["calls"] for name, s in stats.items()})

    before = calls()
    action()
    spent = calls() - before
    for name in HANDSHAKE:
        del spent[name]
    return spent


def report_costs(
    redis_url: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Counter[str], Counter[str], int]:
    """(commands of one dashboard overview, of one /metrics scrape, tickets the overview loaded)."""
    loaded: list[str] = []
    real_get_many = RedisTicketStore.get_many

    def counting(self: RedisTicketStore, ticket_ids: Sequence[str]) -> list[TicketRecord]:
        loaded.extend(ticket_ids)
        return real_get_many(self, ticket_ids)

    monkeypatch.setattr(RedisTicketStore, "get_many", counting)
    client = redis.Redis.from_url(redis_url)
    keys_file = tmp_path / f"{prefix.strip(':')}-keys.toml"
    write_demo_keys(keys_file, POLICY.department_codes)
    settings = Settings(redis_url=redis_url, redis_prefix=prefix)
    app = create_app(settings, POLICY, KeyRing(keys_file), lambda: NOW)
    person: dict[str, str | None] = {"username": "office", "role": "supervisor"}
    add_account(RedisAccountStore(client, prefix), Passwords.cheap(), person, PASSWORD, NOW, ())
    with TestClient(app, client=("127.0.0.1", 50000)) as http:
        token = form_token(http.get("/dashboard/login").text)
        office = {"username": "office", "password": PASSWORD, "csrf": token, "next": "/dashboard"}
        signed_in = http.post("/dashboard/login", data=office, follow_redirects=False)
        assert signed_in.status_code == 303
        period = {"from": "2026-11-16", "to": "2026-12-15"}
        page = commands_run(client, lambda: http.get("/dashboard", params=period, follow_redirects=False))
        tickets_read = len(loaded)
        scrape = commands_run(client, lambda: http.get("/metrics"))
        shown = http.get("/dashboard", params=period)
        assert shown.status_code == 200 and "部门排名" in shown.text
        assert 'ztc_open_tickets{department="approval"}' in http.get("/metrics").text
    monkeypatch.undo()
    return page, scrape, tickets_read


def test_a_page_view_and_a_scrape_cost_the_same_with_10_and_10000_tickets(
    stack: EmbeddedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    costs = {}
    for n in (10, 10_000):
        prefix = f"cost{n}-{uuid.uuid4().hex[:6]}:"
        store = RedisTicketStore(client, prefix, BOOK)
        started = time.monotonic()
        fill(store, n)
        filled_s = time.monotonic() - started
        page, scrape, tickets_read = report_costs(stack.redis_url, prefix, tmp_path, monkeypatch)
        groups = len(store.reports.groups())
        scored = page.pop("zmscore", 0)  # the deadlines of the listed at-risk stages: one per set with any
        assert 0 < scored <= 2 * groups
        costs[n] = (sum(page.values()), sum(scrape.values()))
        print(f"\n{n} tickets (written in {filled_s:.1f}s, {groups} department/level groups):")
        print(f"  overview {costs[n][0]} commands {dict(page)}")
        print(f"  /metrics {costs[n][1]} commands {dict(scrape)}")
        print(f"  tickets the overview loaded: {tickets_read}")
        days = 30
        # the groups; per group's two stage sets a count and a range for the counts, and a range of
        # the overdue and one of the soon due for the lists; the longest lead (twice); one MGET of
        # the listed tickets; one hash per day; the groups again and a count of the first stages per
        # group for the overdue tickets; the open tickets per department (the headline); the
        # signed-in person's session and account: never one per ticket
        assert costs[n][0] == 1 + 8 * groups + 2 + 1 + days + 1 + groups + 1 + 2
        assert costs[n][1] == 1 + 1 + groups  # open counts, the groups, overdue tickets per group
        assert tickets_read <= 2 * LIST_LIMIT * groups  # only the tickets the page lists
        assert (
            "keys" not in page and "scan" not in page and "zrange" not in page
        )  # no listing of every ticket
    assert costs[10] == costs[10_000]


# ---------------------------------------------------------------- tickets from before the read model


def forget_read_model(client: redis.Redis, prefix: str) -> None:
    """Leave only what an installation had before the read model: tickets and the old deadline index."""
    stale = list(client.scan_iter(match=f"{prefix}rm:*"))
    client.delete(*stale)
    client.zadd(f"{prefix}sla:deadlines", {"ZTC-old:accept": 1.0})


def test_ztc_reindex_sums_in_tickets_recorded_before_the_read_model(
    stack: EmbeddedStack, tmp_path: Path
) -> None:
    settings = stack_settings(stack, tmp_path)
    client = redis.Redis.from_url(stack.redis_url)
    store = RedisTicketStore(client, settings.redis_prefix, BOOK)
    fill(store, 40)
    expected = snapshot(store, NOW)
    forget_read_model(client, settings.redis_prefix)
    assert store.reports.groups() == [] and not store.reports.is_built()

    result = ztc(settings, "reindex", check=True)
    assert "40 tickets" in result.stdout
    assert snapshot(store, NOW) == expected and store.reports.is_built()
    assert not client.exists(f"{settings.redis_prefix}sla:deadlines")
    shown = json.loads(ztc(settings, "overdue", "--json", "--now", NOW.isoformat(), check=True).stdout)
    assert [(o["ticket_id"], o["stage"], o["overdue"]) for o in shown] == [
        (s.ticket_id, s.stage.value, s.overdue) for s in views.overdue_items(store, NOW)
    ]
    assert any(o["overdue"] for o in shown) and not all(o["overdue"] for o in shown)


def test_a_recorder_builds_a_missing_read_model_once_before_it_writes(stack: EmbeddedStack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    store = RedisTicketStore(client, f"up{uuid.uuid4().hex[:8]}:", BOOK)
    fill(store, 20)
    expected = snapshot(store, NOW)
    forget_read_model(client, store.prefix)
    assert store.ensure_read_model() == 20
    assert store.ensure_read_model() is None  # built: the next recorder start does nothing
    assert snapshot(store, NOW) == expected
