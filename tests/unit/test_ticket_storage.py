"""The stored form of a ticket: compact, still readable in every earlier form, and its dictionary fixed."""

from __future__ import annotations

import hashlib
import zlib

import pytest
from pydantic import ValidationError

from consumers.recording import transition
from schemas.ticket import TicketRecord
from schemas.ticket_storage import DICTIONARY_1, StoredTicketError, decode_record, encode_record
from tests.unit.store_contract import BOOK, FRIDAY_4PM, routed_at


def record() -> TicketRecord:
    made = transition(None, routed_at("ZTC-20261127-0123456789AB", FRIDAY_4PM), BOOK)
    assert isinstance(made, TicketRecord)
    return made


def test_a_ticket_round_trips_in_under_half_its_json() -> None:
    ticket = record()
    stored = encode_record(ticket)
    assert stored[:1] == b"\x01" and decode_record(stored) == ticket
    assert len(stored) < len(ticket.model_dump_json().encode()) / 2


def test_plain_json_from_before_format_1_still_loads() -> None:
    ticket = record()
    assert decode_record(ticket.model_dump_json().encode()) == ticket
    assert decode_record(ticket.model_dump_json()) == ticket


def test_unknown_or_damaged_bytes_are_refused_with_a_reason() -> None:
    with pytest.raises(StoredTicketError, match="no stored ticket format"):
        decode_record(b"\x07garbage")
    with pytest.raises(StoredTicketError, match="does not decompress"):
        decode_record(encode_record(record())[:-30] + b"\xff" * 30)
    with pytest.raises(ValidationError):
        decode_record(b'{"not": "a ticket"}')


def test_the_format_1_dictionary_never_changes() -> None:
    """Every ticket written in format 1 needs exactly these bytes to be read: a new dictionary is format 2."""
    digest = hashlib.sha256(DICTIONARY_1).hexdigest()
    assert digest == "cbfa1eeed0f161ad5b61495e66e6d1cca928f5f47cb6c990df553decebded58a"


def test_format_1_packed_with_zlibs_default_window_still_loads() -> None:
    """Recorders before the 8 KB window packed with zlib's defaults: the same format, still read."""
    ticket = record()
    packer = zlib.compressobj(6, zdict=DICTIONARY_1)
    stored = b"\x01" + packer.compress(ticket.model_dump_json().encode()) + packer.flush()
    assert decode_record(stored) == ticket


def test_a_ticket_longer_than_the_window_round_trips() -> None:
    long = transition(
        None, routed_at("ZTC-20261127-0123456789AC", FRIDAY_4PM, "材料已经交了两次，" * 550), BOOK
    )
    assert isinstance(long, TicketRecord) and len(long.model_dump_json().encode()) > 12_000
    assert decode_record(encode_record(long)) == long
