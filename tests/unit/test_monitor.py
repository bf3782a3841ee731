"""The monitor without a broker or Redis: the pure plan, and the pass settling it over fakes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import pytest
import redis
from kafka.errors import KafkaTimeoutError

from consumers.monitor import Monitor, Pace, plan_pass
from consumers.sla_engine import SlaBook, alert_event
from consumers.sla_schedule import InMemorySlaSchedule
from consumers.ticket_store import InMemoryTicketStore, RecordStatus
from producers.publisher import InMemoryPublisher
from schemas.events import DISTRICT_ZONE, Event, derived_event_id
from schemas.sla import SlaBreached, SlaEscalated, SlaEvent, SlaWarning
from schemas.ticket import TicketRecord
from streams.routing import route_ticket
from tests.unit.factories import NOW, submission
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

BOOK = SlaBook(load_checked_policy(DEFAULT_POLICY))
TOPIC = "tickets.sla"
ACCEPT_WARNING = datetime(2026, 11, 30, 14, 48, tzinfo=DISTRICT_ZONE)
ACCEPT_DUE = datetime(2026, 11, 30, 17, 30, tzinfo=DISTRICT_ZONE)
SECOND_RUNG = datetime(2026, 12, 1, 17, 30, tzinfo=DISTRICT_ZONE)


class Clock:
    """Seconds for the schedule's leases, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Setup:
    def __init__(self) -> None:
        self.lease_clock = Clock()
        self.store = InMemoryTicketStore(book=BOOK, sla_schedule=InMemorySlaSchedule(clock=self.lease_clock))
        self.schedule = self.store.sla_schedule
        self.publisher = InMemoryPublisher()
        self.dead: list[tuple[str, str]] = []
        self.monitor = self.make_monitor()

    def make_monitor(self) -> Monitor:
        return Monitor(
            self.schedule,
            BOOK,
            self.publisher,
            TOPIC,
            pace=Pace(lease_s=5, republish_after_s=30),
            dead_letter=lambda key, reason: self.dead.append((key, reason)),
        )

    def route(self, message_id: str = "m-1") -> str:
        sub = submission(ticket_id=f"ZTC-20261127-{message_id.upper():0>8}", channel_message_id=message_id)
        event = route_ticket(sub, BOOK.policy, NOW)
        assert self.store.record(event).status is RecordStatus.applied
        return event.ticket_id

    def record(self, events: list[SlaEvent]) -> None:
        for event in events:
            assert self.store.record(event).status is RecordStatus.applied

    def pass_at(self, now: datetime) -> list[SlaEvent]:
        self.lease_clock.now = now.timestamp()
        return self.monitor.run_pass(now)

    def published(self) -> list[SlaEvent]:
        return [e for e in self.publisher.events(TOPIC) if isinstance(e, SlaEvent)]


@pytest.fixture()
def setup() -> Setup:
    return Setup()


def test_nothing_due_publishes_nothing_and_changes_nothing(setup: Setup) -> None:
    setup.route()
    before = dict(setup.schedule.fire_at)
    assert setup.pass_at(ACCEPT_WARNING - timedelta(seconds=1)) == []
    assert setup.publisher.published == [] and setup.dead == []
    assert setup.schedule.fire_at == before


def test_the_plan_of_an_empty_schedule_is_empty(setup: Setup) -> None:
    plan = plan_pass([], setup.store, BOOK, NOW)
    assert (plan.emit, plan.reschedule, plan.drop, plan.dead) == ([], {}, [], [])


def test_the_plan_moves_a_due_ticket_to_its_next_alert_or_the_republication_whichever_is_sooner(
    setup: Setup,
) -> None:
    ticket = setup.route()
    early = plan_pass([ticket], setup.store, BOOK, NOW)  # a stale entry: nothing due yet
    assert (early.emit, early.reschedule, early.drop) == ([], {ticket: ACCEPT_WARNING}, [])
    due = plan_pass([ticket], setup.store, BOOK, ACCEPT_WARNING, Pace(republish_after_s=30))
    assert [key for key, _ in due.emit] == [f"{ticket}:accept:warning:0"]
    assert due.reschedule == {ticket: ACCEPT_WARNING + timedelta(seconds=30)}
    done = plan_pass(["ZTC-20261127-NOTTHERE"], setup.store, BOOK, NOW)
    assert (done.reschedule, done.drop) == ({}, ["ZTC-20261127-NOTTHERE"])


def test_legacy_per_alert_members_are_read_as_their_ticket_and_all_of_its_go(setup: Setup) -> None:
    ticket = setup.route()
    record = setup.store.get(ticket)
    assert record is not None
    keys = sorted(a.key for a in BOOK.schedule(record))
    plan = plan_pass(
        [f"{ticket}:accept:warning:0", f"{ticket}:accept:breach:0"], setup.store, BOOK, ACCEPT_WARNING
    )
    assert [key for key, _ in plan.emit] == [f"{ticket}:accept:warning:0"]  # the ticket decided once
    assert set(plan.drop) == set(keys) and ticket not in plan.drop
    assert plan.reschedule == {ticket: ACCEPT_WARNING + timedelta(seconds=30)}


def test_a_due_warning_is_published_once_with_the_id_derived_from_its_key(setup: Setup) -> None:
    ticket = setup.route()
    [warning] = setup.pass_at(ACCEPT_WARNING)
    assert isinstance(warning, SlaWarning) and warning.ticket_id == ticket
    assert warning.key == f"{ticket}:accept:warning:0"
    assert warning.event_id == derived_event_id("sla", warning.key)
    [sent] = setup.publisher.published
    assert (sent.topic, sent.key, sent.event) == (TOPIC, ticket, warning)
    assert setup.pass_at(ACCEPT_WARNING + timedelta(seconds=1)) == []  # pushed back, and leased


def test_a_due_escalation_rung_is_exactly_one_event(setup: Setup) -> None:
    setup.route()
    setup.record(setup.pass_at(ACCEPT_WARNING))
    at_breach = setup.pass_at(ACCEPT_DUE)
    assert sorted(type(e).__name__ for e in at_breach) == ["SlaBreached", "SlaEscalated"]
    setup.record(at_breach)
    [rung] = setup.pass_at(SECOND_RUNG)
    assert isinstance(rung, SlaEscalated) and rung.level == 2 and rung.stage.value == "accept"
    assert len(setup.published()) == 4
    assert len({e.event_id for e in setup.published()}) == 4


def test_an_unrecorded_alert_is_published_again_after_30s_and_a_recorded_one_never(setup: Setup) -> None:
    setup.route()
    setup.record(setup.pass_at(ACCEPT_WARNING))
    [breach, reminder] = sorted(setup.pass_at(ACCEPT_DUE), key=lambda e: e.key)
    assert isinstance(breach, SlaBreached) and isinstance(reminder, SlaEscalated)
    assert setup.pass_at(ACCEPT_DUE + timedelta(seconds=10)) == []  # the lease ran out, the push back holds
    assert setup.pass_at(ACCEPT_DUE + timedelta(seconds=29)) == []
    again = setup.pass_at(ACCEPT_DUE + timedelta(seconds=30))  # the broker lost them: publish again
    assert sorted(e.event_id for e in again) == sorted([breach.event_id, reminder.event_id])
    setup.record([breach])  # the recorder has the breach now: it is never due again
    [only] = setup.pass_at(ACCEPT_DUE + timedelta(seconds=60))
    assert only.event_id == reminder.event_id
    assert list(setup.schedule.fire_at) == [breach.ticket_id]  # one entry per ticket throughout


def test_a_second_monitor_does_not_emit_what_the_first_holds_a_lease_on(setup: Setup) -> None:
    ticket = setup.route()
    other = setup.make_monitor()
    setup.pass_at(ACCEPT_WARNING)
    setup.schedule.reschedule(ticket, ACCEPT_WARNING)  # as if the other read it before the push back
    assert other.run_pass(ACCEPT_WARNING) == []
    assert len(setup.published()) == 1


def test_an_alert_no_longer_scheduled_is_dropped_without_publishing(setup: Setup) -> None:
    ticket = setup.route()
    stray = f"{ticket}:accept:warning:7"  # a legacy member of a round the ticket is not in
    missing = "ZTC-20261127-NOTTHERE:accept:breach:0"
    gone = "ZTC-20261127-GONE"  # an entry whose ticket is not stored
    for member in (stray, missing, gone):
        setup.schedule.reschedule(member, NOW)
    assert setup.pass_at(NOW) == []
    assert setup.schedule.fire_at == {ticket: ACCEPT_WARNING.timestamp()}
    assert setup.dead == []


def test_an_alert_whose_deadline_moved_waits_for_its_new_time(setup: Setup) -> None:
    ticket = setup.route()
    setup.schedule.reschedule(ticket, NOW)  # stale time: the index says now, the ticket says Monday
    assert setup.pass_at(NOW) == []
    assert setup.schedule.fire_at[ticket] == ACCEPT_WARNING.timestamp()


class CorruptTicket(InMemoryTicketStore):
    """A store with one ticket that cannot be read (as a corrupt JSON in Redis)."""

    bad: str = ""

    def get(self, ticket_id: str) -> TicketRecord | None:
        if ticket_id == self.bad:
            raise ValueError("1 validation error for TicketRecord")
        return super().get(ticket_id)


def test_poison_in_the_schedule_is_dead_lettered_and_dropped_and_the_pass_goes_on() -> None:
    setup = Setup()
    store = CorruptTicket(book=BOOK, sla_schedule=setup.schedule)
    setup.store = store
    setup.monitor = setup.make_monitor()  # the schedule now reads its due tickets from ``store``
    good, bad = setup.route("aa"), setup.route("bb")
    store.bad = bad
    emitted = setup.pass_at(ACCEPT_WARNING)
    assert [e.ticket_id for e in emitted] == [good]
    [(key, reason)] = setup.dead
    assert key == bad and "ValueError" in reason and "TicketRecord" in reason
    assert bad not in setup.schedule.fire_at and good in setup.schedule.fire_at


def test_an_unavailable_redis_ends_the_pass_and_drops_nothing(setup: Setup) -> None:
    class Away(InMemoryTicketStore):
        def get(self, ticket_id: str) -> TicketRecord | None:
            raise redis.ConnectionError("connection refused")

    setup.route()
    before = dict(setup.schedule.fire_at)
    setup.schedule.tickets = Away()
    with pytest.raises(redis.ConnectionError):
        setup.pass_at(ACCEPT_WARNING)
    assert setup.schedule.fire_at == before and setup.dead == [] and setup.published() == []


class FlakyPublisher(InMemoryPublisher):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def publish_event(self, topic: str, event: Event, timeout_s: float = 10.0) -> None:
        if self.failures:
            self.failures -= 1
            raise KafkaTimeoutError("broker away")
        super().publish_event(topic, event, timeout_s)


def test_the_loop_survives_a_broker_outage_sends_again_on_the_next_pass_and_runs_the_relay(
    setup: Setup,
) -> None:
    setup.route()
    setup.publisher = FlakyPublisher(failures=1)
    setup.monitor = setup.make_monitor()
    stop = threading.Event()
    relayed: list[datetime] = []

    def relay(now: datetime) -> None:
        relayed.append(now)
        if setup.published() or len(relayed) > 5:
            stop.set()

    setup.monitor.run(stop, lambda: ACCEPT_WARNING, interval_s=0.001, also=relay)
    [warning] = setup.published()  # no 30 s wait: put back due, and the lease ended
    assert warning.key.endswith(":accept:warning:0") and len(relayed) == 1


class Broker(InMemoryPublisher):
    """A ``BatchPublisher``: takes a pass's events in one call; refuses those of ``refuse`` (ticket ids)."""

    def __init__(
        self, refuse: frozenset[str] = frozenset(), before_answer: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.refuse = refuse
        self.before_answer = before_answer
        self.calls: list[int] = []

    def publish_all(
        self, topic: str, events: Sequence[Event], timeout_s: float = 10.0
    ) -> list[Exception | None]:
        self.calls.append(len(events))
        answers: list[Exception | None] = []
        for event in events:
            if event.ticket_id in self.refuse:
                answers.append(KafkaTimeoutError("no acknowledgement"))
            else:
                self.publish_event(topic, event, timeout_s)
                answers.append(None)
        if self.before_answer is not None:
            self.before_answer()
        return answers


def test_a_pass_hands_every_alert_to_the_broker_in_one_go(setup: Setup) -> None:
    tickets = [setup.route(f"m-{n}") for n in range(5)]
    setup.publisher = broker = Broker()
    setup.monitor = setup.make_monitor()
    emitted = setup.pass_at(ACCEPT_WARNING)
    assert sorted(e.ticket_id for e in emitted) == sorted(tickets) and broker.calls == [5]
    assert all(
        setup.schedule.fire_at[t] == (ACCEPT_WARNING + timedelta(seconds=30)).timestamp() for t in tickets
    )


def test_an_alert_the_broker_did_not_take_stays_due_and_only_it_is_sent_on_the_next_pass(
    setup: Setup,
) -> None:
    taken, refused = setup.route("aa"), setup.route("bb")
    setup.publisher = broker = Broker(refuse=frozenset({refused}))
    setup.monitor = setup.make_monitor()
    with pytest.raises(KafkaTimeoutError):
        setup.pass_at(ACCEPT_WARNING)
    assert setup.schedule.fire_at[taken] == (ACCEPT_WARNING + timedelta(seconds=30)).timestamp()
    assert setup.schedule.fire_at[refused] == ACCEPT_WARNING.timestamp()  # due, where it fell due
    broker.refuse = frozenset()
    [again] = setup.pass_at(ACCEPT_WARNING + timedelta(seconds=1))  # the next pass, not 30 s later
    assert again.ticket_id == refused
    assert [e.ticket_id for e in setup.published()] == [taken, refused]


def test_a_failed_send_does_not_undo_what_the_recorder_moved_meanwhile(setup: Setup) -> None:
    ticket = setup.route()
    record = setup.store.get(ticket)
    assert record is not None
    warning = min(BOOK.schedule(record), key=lambda a: a.fire_at)
    # the broker took it after all and the recorder recorded it; only the acknowledgement was lost
    recorded = alert_event(warning, BOOK, ACCEPT_WARNING)
    setup.publisher = Broker(refuse=frozenset({ticket}), before_answer=lambda: setup.record([recorded]))
    setup.monitor = setup.make_monitor()
    with pytest.raises(KafkaTimeoutError):
        setup.pass_at(ACCEPT_WARNING)
    after = setup.store.get(ticket)
    assert after is not None and warning.key in (after.sla.emitted if after.sla else ())
    moved_to = BOOK.next_alert_at(after)
    assert moved_to is not None and moved_to > ACCEPT_WARNING + timedelta(seconds=30)
    assert setup.schedule.fire_at[ticket] == moved_to.timestamp()  # the recorder's move stands


class Waits(threading.Event):
    """A stop event that records how long the loop asked to sleep, and stops after ``passes`` sleeps."""

    def __init__(self, passes: int) -> None:
        super().__init__()
        self.passes = passes
        self.asked: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.asked.append(timeout or 0.0)
        if len(self.asked) >= self.passes:
            self.set()
        return self.is_set()


def test_the_loop_sleeps_until_the_next_entry_comes_due_at_most_the_interval(setup: Setup) -> None:
    ticket = setup.route()
    stop = Waits(passes=2)
    moments = iter([ACCEPT_WARNING - timedelta(seconds=0.25)] * 2 + [ACCEPT_WARNING] * 9)  # 2 reads a pass
    setup.monitor.run(stop, lambda: next(moments), interval_s=60.0)
    assert stop.asked[0] == 0.25  # not the interval: the ticket's warning is due in 0.25 s
    assert setup.published()[0].ticket_id == ticket
    assert stop.asked[1] == 30.0  # then the re-publication, the next thing due
    setup.schedule.drop(ticket)
    assert (
        setup.monitor.pause_after_pass(lambda: ACCEPT_WARNING, 60.0) == 60.0
    )  # nothing at all: the interval


def test_a_full_batch_is_followed_by_the_next_pass_at_once(setup: Setup) -> None:
    tickets = [setup.route(f"m-{n}") for n in range(3)]
    setup.monitor.pace = Pace(lease_s=5, republish_after_s=30, batch=2)
    stop = Waits(passes=2)
    setup.monitor.run(stop, lambda: ACCEPT_WARNING, interval_s=60.0)
    assert stop.asked == [0.0, 30.0]
    assert sorted(e.ticket_id for e in setup.published()) == sorted(tickets)


def test_a_recorded_alert_event_matches_what_the_monitor_publishes(setup: Setup) -> None:
    ticket = setup.route()
    record = setup.store.get(ticket)
    assert record is not None
    first = min(BOOK.schedule(record), key=lambda a: a.fire_at)
    [published] = setup.pass_at(first.fire_at)
    assert published == alert_event(first, BOOK, first.fire_at)
