"""One contract for every outbox: the in-memory fake and Redis must behave alike."""

from __future__ import annotations

from datetime import timedelta

from producers.outbox import SOON_S
from schemas.outbox import Outbox, OutboxEntry, event_entry_id, submission_entry_id
from tests.unit.factories import NOW, submission

TOPIC = "tickets.submitted"


def entry(event_id: str, topic: str = "tickets.feedback") -> OutboxEntry:
    return OutboxEntry(event_entry_id(event_id), topic, "T-1", '{"x": 1}', "T-1")


class OutboxContract:
    first_retry_s = 300.0

    def make_outbox(self) -> Outbox:
        raise NotImplementedError

    def mark_recorded(self, outbox: Outbox, dedupe_key: str, ticket_id: str) -> None:
        """What the recorder does when it records a channel message's first routing."""
        raise NotImplementedError

    def test_a_channel_message_is_admitted_once(self) -> None:
        outbox = self.make_outbox()
        first = submission(ticket_id="ZTC-20261127-AAAAAAAA", channel_message_id="m-7")
        retry = submission(ticket_id="ZTC-20261128-BBBBBBBB", channel_message_id="m-7")
        assert outbox.admit_submission(first, TOPIC, NOW) == ("ZTC-20261127-AAAAAAAA", True)
        assert outbox.admit_submission(retry, TOPIC, NOW) == ("ZTC-20261127-AAAAAAAA", False)
        assert outbox.pending() == 1

    def test_a_retry_of_a_waiting_message_makes_it_due_soon_and_never_later(self) -> None:
        # kill-redis chaos: the first attempt was admitted, then Redis died before the answer and
        # before the publication; the channel's retry was told "duplicate" and the ticket waited
        # for the relay's first look, five minutes later.
        outbox = self.make_outbox()
        first = submission(ticket_id="ZTC-20261127-AAAAAAAA", channel_message_id="m-9")
        outbox.admit_submission(first, TOPIC, NOW)
        assert outbox.due(NOW + timedelta(seconds=30), 10) == []
        retry = submission(ticket_id="ZTC-20261127-AAAAAAAA", channel_message_id="m-9")
        at = NOW + timedelta(seconds=20)
        assert outbox.admit_submission(retry, TOPIC, at) == (first.ticket_id, False)
        due = outbox.due(at + timedelta(seconds=SOON_S), 10)
        assert [e.entry_id for e in due] == [submission_entry_id(first)]
        assert due[0].value == first.model_dump_json()  # the first attempt's bytes, as admitted
        outbox.admit_submission(retry, TOPIC, at + timedelta(hours=1))  # a late retry does not delay it
        assert len(outbox.due(at + timedelta(seconds=SOON_S), 10)) == 1

    def test_a_recorded_message_is_not_admitted_again_even_after_confirmation(self) -> None:
        outbox = self.make_outbox()
        first = submission(ticket_id="ZTC-20261127-AAAAAAAA", channel_message_id="m-8")
        outbox.admit_submission(first, TOPIC, NOW)
        self.mark_recorded(outbox, first.dedupe_key, first.ticket_id)
        outbox.confirm([submission_entry_id(first)])
        assert outbox.pending() == 0
        again = submission(ticket_id="ZTC-20261201-CCCCCCCC", channel_message_id="m-8")
        assert outbox.admit_submission(again, TOPIC, NOW + timedelta(days=4)) == (first.ticket_id, False)
        assert outbox.pending() == 0

    def test_entries_are_due_only_after_the_first_retry_delay(self) -> None:
        outbox = self.make_outbox()
        outbox.put([entry("e1")], NOW)
        assert outbox.due(NOW + timedelta(seconds=self.first_retry_s - 1), 10) == []
        due = outbox.due(NOW + timedelta(seconds=self.first_retry_s), 10)
        assert [e.entry_id for e in due] == ["evt:e1"]
        assert due[0].topic == "tickets.feedback" and due[0].value == '{"x": 1}'

    def test_postpone_doubles_and_confirm_removes(self) -> None:
        outbox = self.make_outbox()
        outbox.put([entry("e2")], NOW)
        later = NOW + timedelta(seconds=self.first_retry_s)
        outbox.postpone(["evt:e2"], later)
        assert outbox.due(later + timedelta(seconds=self.first_retry_s - 1), 10) == []
        assert len(outbox.due(later + timedelta(seconds=self.first_retry_s), 10)) == 1
        outbox.postpone(["evt:e2"], later)
        assert outbox.due(later + timedelta(seconds=2 * self.first_retry_s - 1), 10) == []
        outbox.confirm(["evt:e2", "evt:unknown"])
        assert outbox.pending() == 0
        assert outbox.due(later + timedelta(days=1), 10) == []

    def test_retry_soon_and_replay_all(self) -> None:
        outbox = self.make_outbox()
        outbox.put([entry("e3"), entry("e4")], NOW)
        outbox.retry_soon(["evt:e3"], NOW)
        assert [e.entry_id for e in outbox.due(NOW + timedelta(seconds=5), 10)] == ["evt:e3"]
        assert outbox.replay_all() == 2
        assert {e.entry_id for e in outbox.due(NOW, 10)} == {"evt:e3", "evt:e4"}

    def test_putting_an_entry_again_does_not_delay_it(self) -> None:
        outbox = self.make_outbox()
        outbox.put([entry("e5")], NOW)
        outbox.put([entry("e5")], NOW + timedelta(hours=1))
        assert len(outbox.due(NOW + timedelta(seconds=self.first_retry_s), 10)) == 1
