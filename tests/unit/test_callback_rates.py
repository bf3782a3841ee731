"""The 12345 rates over callback records, checked against hand-computed figures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.callback_rates import CallbackRecord, RatePolicy, callback_rates
from schemas.feedback import Answer, RatedBy, Rating, SatisfactionRated
from schemas.ticket import RatingRecord


def _record(n: int, rating: Rating, **flags: bool) -> CallbackRecord:
    return CallbackRecord(ticket_id=f"t{n}", department="market", rating=rating, **flags)


def test_hand_computed_rates_leave_out_spam_and_final_answers() -> None:
    records = [
        _record(1, Rating.satisfied),
        _record(2, Rating.satisfied),
        _record(3, Rating.basically_satisfied),
        _record(4, Rating.basically_satisfied, resolved=False),
        _record(5, Rating.unsatisfied, contacted=False, resolved=False),
        _record(6, Rating.unsatisfied, excluded=True),
        _record(7, Rating.unsatisfied, final_answer=True),
    ]
    rates = callback_rates(records, RatePolicy())
    # 5 valid: contacted 4, resolved 3, satisfied 2, basically 2
    assert rates.valid == 5
    assert rates.response == pytest.approx(0.8)
    assert rates.resolution == pytest.approx(0.6)
    assert rates.satisfaction == pytest.approx((2 + 0.9 * 2) / 5)  # 0.76
    assert rates.composite == pytest.approx(0.1 * 0.8 + 0.5 * 0.6 + 0.4 * 0.76)  # 0.684


def test_final_answers_count_when_the_policy_keeps_them() -> None:
    records = [_record(1, Rating.satisfied), _record(2, Rating.unsatisfied, final_answer=True)]
    rates = callback_rates(records, RatePolicy(exclude_final_answers=False))
    assert rates.valid == 2
    assert rates.satisfaction == pytest.approx(0.5)


def test_no_valid_callback_gives_no_rate() -> None:
    rates = callback_rates([_record(1, Rating.satisfied, excluded=True)], RatePolicy())
    assert rates.valid == 0
    assert rates.composite is None


def test_weights_must_sum_to_one() -> None:
    with pytest.raises(ValidationError):
        RatePolicy(response_weight=0.2)


def test_only_the_office_certifies_a_final_answer() -> None:
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    common = {
        "ticket_id": "ZTC-20261102-0000000A",
        "actor": "t",
        "rating": Rating.unsatisfied,
        "occurred_at": at,
    }
    with pytest.raises(ValidationError, match="最终答复"):
        SatisfactionRated(
            department="enterprise", rated_by=RatedBy.enterprise, final_answer=Answer.yes, **common
        )
    event = SatisfactionRated(department="office", rated_by=RatedBy.office, final_answer=Answer.yes, **common)
    assert event.final_answer is Answer.yes


def test_a_callback_without_the_new_questions_keeps_its_stored_form() -> None:
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    old = RatingRecord(rating=Rating.basically_satisfied, rated_by=RatedBy.enterprise, at=at, round=0)
    assert set(old.model_dump(mode="json")) == {"rating", "rated_by", "comment", "at", "round"}
    assert old.was_contacted and old.problem_solved  # unasked: contacted; 基本满意 closes → solved
    unsolved = old.model_copy(update={"solved": False, "contacted": False})
    assert not unsolved.was_contacted and not unsolved.problem_solved
