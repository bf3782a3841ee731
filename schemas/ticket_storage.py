"""How a ticket is stored: compact bytes for the ticket stores, and back.

A stored ticket is one of:

- **format 1** — ``b"\x01"`` then the record's JSON compressed with zlib against
  ``DICTIONARY_1`` (a skeleton of a recorded ticket: its field names, the shipped
  policy's codes and summary wording), so even the first kilobyte compresses:
  about 3 KB of JSON become about 0.9 KB;
- **legacy** — the record's JSON as it is (everything stored before format 1),
  recognised by its first byte ``{``.

Readers only ever see ``TicketRecord``: both stores and every tool go through
``decode_record``. ``DICTIONARY_1`` must never change — the records written with
it need exactly these bytes to be read; a better dictionary is format 2.
"""

from __future__ import annotations

import zlib

from schemas.ticket import TicketRecord

FORMAT_1 = b"\x01"
LEVEL = 6
DICTIONARY_1 = (
    '{"ticket_id":"","status":"accepted","submission":{"event_id":"","ticket_id":"","'
    'occurred_at":"2026-11-27T16:00:00+08:00","schema_version":1,"type":"TicketSubmit'
    'ted","channel":"wechat_group","channel_message_id":"","enterprise_name":"","cred'
    'it_code":null,"contact":"","street":"","project_name":null,"title":"","text":"",'
    '"submitted_at":"2026-11-27T16:00:00+08:00"},"category":"construction_permit","co'
    'nfidence":0.75,"lead_department":"approval","co_departments":["construction","st'
    'reet-licun"],"priority":"normal","manual_triage":false,"key_enterprise":false,"k'
    'ey_project":null,"policy_version":"2026.11-1","rules_fired":[{"rule_id":"constru'
    'ction-permit","category":"construction_permit","weight":3.0,"matched":"施工许可证"}],'
    '"routed_at":"2026-11-27T16:00:00+08:00","updated_at":"2026-12-01T09:00:00+08:00"'
    ',"history":[{"event_id":"","event_type":"TicketRouted","at":"2026-11-27T16:00:00'
    '+08:00","department":"approval","actor":"router","summary":"派单：主办 approval，协办 co'
    'nstruction、street-licun；类别 construction_permit，置信度 0.75，优先级 normal","details":{"'
    'category":"construction_permit","confidence":0.75,"lead_department":"approval","'
    'co_departments":["construction","street-licun"],"rules_fired":["construction-per'
    'mit"],"policy_version":"2026.11-1"}},{"event_id":"","event_type":"SlaWarning","a'
    't":"2026-11-30T15:42:00+08:00","department":"approval","actor":"monitor","summar'
    'y":"签收临期预警","details":{"key":"ZTC-20260101-000000000000:accept:warning:0","stage'
    '":"accept","due_at":"2026-11-30T17:30:00+08:00"}},{"event_id":"","event_type":"T'
    'icketAccepted","at":"2026-12-01T09:00:00+08:00","department":"approval","actor":'
    '"张","summary":"签收","details":{}}],"assignments":[{"department":"approval","role"'
    ':"lead","assigned_at":"2026-11-27T16:00:00+08:00","accepted_at":"2026-12-01T09:0'
    '0:00+08:00","done_at":null,"released_at":null,"release_reason":null},{"departmen'
    't":"construction","role":"co","assigned_at":"2026-11-27T16:00:00+08:00","accepte'
    'd_at":null,"done_at":null,"released_at":null,"release_reason":null},{"department'
    '":"street-licun","role":"co","assigned_at":"2026-11-27T16:00:00+08:00","accepted'
    '_at":null,"done_at":null,"released_at":null,"release_reason":null}],"bounced_by"'
    ':[],"bounces":[],"reopen_count":0,"ratings":[],"resolution":null,"resolved_at":n'
    'ull,"sla":{"tier":"ordinary","urgent":false,"round":0,"accept_started_at":"2026-'
    '11-27T16:00:00+08:00","accept_due_at":"2026-11-30T17:30:00+08:00","accepted_at":'
    '"2026-12-01T09:00:00+08:00","resolve_started_at":"2026-11-27T16:00:00+08:00","re'
    'solve_due_at":"2026-12-08T17:30:00+08:00","resolved_at":null,"paused_since":null'
    ',"paused_seconds":0,"extensions":0,"emitted":["ZTC-20260101-000000000000:accept:'
    'warning:0"],"breached":[],"escalation_level":0,"outcomes":[{"stage":"accept","de'
    'partment":"approval","round":0,"due_at":"2026-11-30T17:30:00+08:00","decided_at"'
    ':"2026-12-01T09:00:00+08:00","met":false}]},"pending_extension":null,"reroute_re'
    'quest_id":null}'
).encode()


class StoredTicketError(ValueError):
    """Bytes that are no stored ticket of any known format."""


WINDOW_BITS = 13
MEMORY_LEVEL = 5
"""An 8 KB window (the dictionary and a typical record both fit: the same bytes as zlib's default
32 KB) and a small hash table: the compressor's state is ~50 KB instead of ~320 KB, and copying it
for every record (below) is most of what packing costs. A reader's default window reads it."""
_PACKER_1 = zlib.compressobj(LEVEL, zlib.DEFLATED, WINDOW_BITS, MEMORY_LEVEL, zdict=DICTIONARY_1)
"""Primed with the dictionary once; each record is packed by a copy (priming costs more than packing)."""
_UNPACKER_1 = zlib.decompressobj(zdict=DICTIONARY_1)


def encode_record(record: TicketRecord) -> bytes:
    """The bytes to store for ``record`` (format 1)."""
    packer = _PACKER_1.copy()
    return FORMAT_1 + packer.compress(record.model_dump_json().encode()) + packer.flush()


def record_json(raw: bytes | str) -> bytes:
    """The record's JSON from stored bytes of any format."""
    if isinstance(raw, str):  # a client that decodes replies: only legacy JSON survives that
        raw = raw.encode()
    if raw[:1] == b"{":
        return raw
    if raw[:1] == FORMAT_1:
        unpacker = _UNPACKER_1.copy()
        try:
            text = unpacker.decompress(raw[1:]) + unpacker.flush()
        except zlib.error as exc:
            raise StoredTicketError(f"stored ticket (format 1) does not decompress: {exc}") from None
        if not unpacker.eof or unpacker.unused_data:
            raise StoredTicketError("stored ticket (format 1) does not decompress: cut short or overlong")
        return text
    raise StoredTicketError(f"no stored ticket format starts with {raw[:1]!r}")


def decode_record(raw: bytes | str) -> TicketRecord:
    """The ``TicketRecord`` stored as ``raw`` (any format); ValidationError if it is no ticket."""
    return TicketRecord.model_validate_json(record_json(raw))


def ticket_key(prefix: str, ticket_id: str) -> str:
    """The Redis key of a stored ticket (``TicketKeys.ticket`` and ``consumers.ticket_reader``)."""
    return f"{prefix}ticket:{ticket_id}"
