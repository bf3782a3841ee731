"""One contract for every DeadLetterStore: the in-memory fake and Redis must behave alike.

Subclassed in ``tests/unit/test_dead_letters.py`` (in memory) and
``tests/integration/test_redis_dead_letters.py`` (a real Redis).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest

from consumers.dead_letters import AmbiguousId, DeadLetterStore, handled_note
from schemas.dead_letters import dead_letter
from schemas.events import MAX_DEAD_LETTER_ORIGINAL_BYTES, DeadLettered
from tests.unit.factories import NOW


def letter(
    event_id: str, minutes: int = 0, raw: bytes = b"{not json", reason: str = "not JSON"
) -> DeadLettered:
    record = dead_letter(
        raw,
        reason=reason,
        stage="validate",
        source_topic="tickets.submitted",
        now=NOW + timedelta(minutes=minutes),
        partition=0,
        offset=minutes,
    )
    return record.model_copy(update={"event_id": event_id})


class DeadLetterStoreContract:
    def make_store(self) -> DeadLetterStore:
        raise NotImplementedError

    def test_keeps_a_letter_and_shows_it(self) -> None:
        store = self.make_store()
        record = letter("a1b2c3d4e5f6", reason="schema: text: Field required")
        assert store.add(record) is True
        view = store.find("a1b2c3d4e5f6")
        assert view is not None and view.record == record and view.handled is None
        assert store.open_count() == 1
        assert store.open_letters() == [record]

    def test_a_prefix_finds_its_letter_whatever_its_case_and_blanks(self) -> None:
        store = self.make_store()
        store.add(letter("a1b2c3d4e5f6"))
        store.add(letter("ffff00001111"))
        view = store.find("  A1B2C3D4 ")
        assert view is not None and view.record.event_id == "a1b2c3d4e5f6"

    def test_a_prefix_of_two_letters_is_ambiguous_unless_one_is_that_id(self) -> None:
        store = self.make_store()
        store.add(letter("abcd0001"))
        store.add(letter("abcd000111"))
        with pytest.raises(AmbiguousId):
            store.find("abcd")
        view = store.find("abcd0001")
        assert view is not None and view.record.event_id == "abcd0001"

    @pytest.mark.parametrize("wanted", ["", "   ", "zzzz", "*", "a1b2?", "[a]", "a1b2c3d4e5f6x"])
    def test_anything_else_finds_nothing(self, wanted: str) -> None:
        store = self.make_store()
        store.add(letter("a1b2c3d4e5f6"))
        assert store.find(wanted) is None

    def test_the_open_list_is_oldest_first_and_at_most_limit_long(self) -> None:
        store = self.make_store()
        for event_id, minutes in [("c3", 2), ("a1", 0), ("b2", 1), ("b1", 1)]:
            store.add(letter(event_id, minutes))
        assert [r.event_id for r in store.open_letters()] == ["a1", "b1", "b2", "c3"]
        assert [r.event_id for r in store.open_letters(2)] == ["a1", "b1"]
        assert store.open_letters(0) == []
        assert store.open_count() == 4

    def test_a_replayed_letter_is_kept_with_its_note_but_no_longer_open(self) -> None:
        store = self.make_store()
        store.add(letter("aa11", 0))
        store.add(letter("bb22", 1))
        store.mark("aa11", handled_note("replayed", "张三", NOW))
        view = store.find("aa11")
        assert view is not None and view.handled == "replayed 2026-11-27T10:00:00+08:00 by 张三"
        assert [r.event_id for r in store.open_letters()] == ["bb22"]
        assert store.open_count() == 1

    def test_a_discarded_letter_keeps_why(self) -> None:
        store = self.make_store()
        store.add(letter("aa11"))
        store.mark("aa11", handled_note("discarded (test input)", "李四", NOW + timedelta(hours=1)))
        view = store.find("aa")
        assert view is not None and view.handled == "discarded (test input) 2026-11-27T11:00:00+08:00 by 李四"
        assert store.open_letters() == [] and store.open_count() == 0

    def test_marking_an_unknown_letter_changes_nothing(self) -> None:
        store = self.make_store()
        store.add(letter("aa11"))
        store.mark("bb22", handled_note("replayed", "张三", NOW))
        assert store.open_count() == 1 and store.find("bb22") is None
        assert store.add(letter("bb22")) is True
        assert store.open_count() == 2

    def test_adding_a_letter_again_keeps_the_first(self) -> None:
        store = self.make_store()
        first = letter("aa11", reason="first")
        assert store.add(first) is True
        assert store.add(letter("aa11", minutes=5, reason="again")) is False
        assert store.open_letters() == [first] and store.open_count() == 1

    def test_a_handled_letter_added_again_stays_handled(self) -> None:
        """A redelivered dead-letter event must not reopen what the office already closed."""
        store = self.make_store()
        record = letter("aa11")
        store.add(record)
        store.mark("aa11", handled_note("replayed", "张三", NOW))
        assert store.add(record) is False
        assert store.open_letters() == [] and store.open_count() == 0
        view = store.find("aa11")
        assert view is not None and view.handled is not None and view.handled.startswith("replayed")

    def test_a_huge_original_is_kept_bounded_with_its_length_and_digest(self) -> None:
        store = self.make_store()
        original = b"x" * (MAX_DEAD_LETTER_ORIGINAL_BYTES * 8)
        store.add(letter("aa11", raw=original))
        view = store.find("aa11")
        assert view is not None
        kept = view.record
        assert len(base64.b64decode(kept.original_b64)) == MAX_DEAD_LETTER_ORIGINAL_BYTES
        assert kept.original_truncated and kept.original_length == len(original)
        assert kept.original_sha256 == hashlib.sha256(original).hexdigest()
        assert len(kept.model_dump_json()) < 2 * MAX_DEAD_LETTER_ORIGINAL_BYTES
