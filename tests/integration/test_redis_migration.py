"""A Redis written by the recorder before the compact indexes (read model 2) is migrated by reindex.

That recorder kept the inbox, enterprise and project indexes as sorted sets
(``dept:…``, ``enterprise:…``, ``project:…``), one string key per channel
message (``message:<sha1>``), and a read model with a deadline set, a warning
set and a first-deadline set per group. Its tickets are stored as today. The
test writes that layout from tickets recorded today, then checks what reads
before the migration, that a recorder's first start (``ensure_read_model``)
moves everything into today's form and deletes the old keys, and that nothing
a reader sees changed.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import redis

from consumers.ticket_store import RecordStatus, RedisTicketStore, enterprise_keys
from deploy.embedded import EmbeddedStack
from schemas.events import Priority, TicketRouted
from schemas.outbox import message_key
from schemas.ticket import InboxBucket, TicketRecord
from schemas.ticket_state import inbox_buckets
from streams.routing import route_ticket
from tests.integration.test_redis_store import BOOK, NOW, fill
from tests.unit.factories import submission
from tests.unit.store_contract import snapshot

pytestmark = pytest.mark.integration


ENTERPRISES = (("青岛华彩印务有限公司", "91370200MA3C0HC001"), ("鑫源物流有限公司", None))


def with_enterprises(store: RedisTicketStore) -> None:
    """Four tickets of two enterprises, two of them about a key project."""
    for i in range(4):
        name, code = ENTERPRISES[i % 2]
        when = NOW.replace(hour=9) - timedelta(days=i)
        sub = submission(
            "粤浦科创中心项目的施工许可证办理" if i < 2 else "我们想办理食品经营许可证",
            ticket_id=f"ZTC-E-{i}",
            channel_message_id=f"ZTC-E-{i}",
            occurred_at=when,
            submitted_at=when,
            enterprise_name=name,
            credit_code=code,
        )
        assert store.record(route_ticket(sub, BOOK.policy, when)).status is RecordStatus.applied


def as_before(client: redis.Redis, store: RedisTicketStore, records: list[TicketRecord]) -> None:
    """Rewrite the store's indexes in the layout of the recorder before (tickets stay as they are)."""
    prefix = store.prefix
    today = [k for p in ("inbox:*", "ent:*", "proj:*", "msg:*", "rm:first:*", "rm:later:*") for k in
             client.scan_iter(match=f"{prefix}{p}")]  # fmt: skip
    client.delete(*today)
    for record in records:
        score = record.routed_at.timestamp()
        for department, bucket in inbox_buckets(record).items():
            client.zadd(f"{prefix}dept:{department}:{bucket.value}", {record.ticket_id: score})
        for key in enterprise_keys(record):
            client.zadd(f"{prefix}enterprise:{key}", {record.ticket_id: score})
        if record.key_project:
            client.zadd(f"{prefix}project:{record.key_project}", {record.ticket_id: score})
        client.set(message_key(prefix, record.submission.dedupe_key), record.ticket_id)
        client.zadd(f"{prefix}tickets", {record.ticket_id: score})
    client.zadd(f"{prefix}rm:due:approval:0", {"ZTC-old:accept": 1.0})
    client.zadd(f"{prefix}rm:warn:approval:0", {"ZTC-old:accept": 1.0})
    client.zadd(f"{prefix}rm:first-due:approval", {"ZTC-old": 1.0})
    client.set(f"{prefix}rm:built", "2")


def reads(store: RedisTicketStore, records: list[TicketRecord]) -> dict[str, object]:
    """What the inboxes, enterprise and project views and the message claims answer."""
    departments = sorted({d for r in records for d in inbox_buckets(r)})
    return {
        "inbox": {(d, b): [r.ticket_id for r in store.inbox(d, b)] for d in departments for b in InboxBucket},
        "enterprise": {
            key: [r.ticket_id for r in store.enterprise_tickets(key)]
            for name, code in ENTERPRISES
            for key in (name, code)
            if key
        },
        "project": [r.ticket_id for r in store.project_tickets("粤浦科创中心")],
        "claims": {r.ticket_id: store.ticket_for_message(r.submission.dedupe_key) for r in records},
    }


def test_a_redis_written_by_the_previous_recorder_is_migrated_on_the_first_start(
    stack: EmbeddedStack,
) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    store = RedisTicketStore(client, f"mig{uuid.uuid4().hex[:6]}:", BOOK)
    fill(store, 30)
    with_enterprises(store)
    ids = [f"ZTC-30-{i:06d}" for i in range(30)] + [f"ZTC-E-{i}" for i in range(4)]
    records = store.get_many(ids)
    expected_reads, expected_reports = reads(store, records), snapshot(store, NOW)
    assert expected_reads["project"] == ["ZTC-E-1", "ZTC-E-0"]  # oldest routing first
    assert expected_reads["enterprise"] == {  # by name or credit code
        "青岛华彩印务有限公司": ["ZTC-E-2", "ZTC-E-0"],
        "91370200MA3C0HC001": ["ZTC-E-2", "ZTC-E-0"],
        "鑫源物流有限公司": ["ZTC-E-3", "ZTC-E-1"],
    }
    as_before(client, store, records)

    assert all(store.ticket_for_message(r.submission.dedupe_key) == r.ticket_id for r in records)
    assert not store.reports.is_built()
    assert store.ensure_read_model() == 34  # what a recorder does before its first write

    assert reads(store, records) == expected_reads
    assert snapshot(store, NOW) == expected_reports
    left = [k.decode() for p in ("dept:*", "enterprise:*", "project:*", "message:*", "tickets", "rm:due:*",
            "rm:warn:*", "rm:first-due:*") for k in client.scan_iter(match=f"{store.prefix}{p}")]  # fmt: skip
    assert left == []
    first = records[0]
    resent = TicketRouted(  # the first ticket's channel message, routed again under another id
        ticket_id="ZTC-30-later",
        occurred_at=NOW,
        submission=first.submission.model_copy(update={"ticket_id": "ZTC-30-later"}),
        category=first.category,
        confidence=0.9,
        lead_department=first.lead_department,
        priority=Priority.normal,
        policy_version="migration",
    )
    outcome = store.record(resent)
    assert outcome.status is RecordStatus.duplicate and outcome.record == first  # its claim came across
    assert store.get("ZTC-30-later") is None
    assert store.ensure_read_model() is None
