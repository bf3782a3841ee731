"""The three rates as 12345 platforms compute them from callback (回访) answers.

Pure functions over plain records; no clock, no I/O. A callback is *valid* when
the policy's ``[rates]`` says so: given by a rater it accepts (the enterprise, the
office on its behalf), its ticket not closed as invalid / spam / a duplicate, and
not certified as a final answer 最终答复 (each exclusion a policy switch).

- response rate 响应率 = contacted / valid callbacks
- resolution rate 解决率 = resolved / valid
- satisfaction rate 满意率 = (satisfied + factor x basically satisfied) / valid
- composite 综合 = w_response x response + w_resolution x resolution + w_satisfaction x satisfaction

``CallbackTally`` is the counted form (what the reports' read model keeps per
department and day, one tally per kind of callback); ``rates_of`` turns the valid
ones into the rates, so a record list and the read model give the same figures.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.feedback import RatedBy, Rating


class RatePolicy(BaseModel):
    """``[rates]``: weights, the basically-satisfied factor and what counts as a valid callback."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    response_weight: float = Field(default=0.1, ge=0, le=1)
    resolution_weight: float = Field(default=0.5, ge=0, le=1)
    satisfaction_weight: float = Field(default=0.4, ge=0, le=1)
    basically_satisfied_factor: float = Field(default=0.9, ge=0, le=1)
    valid_raters: tuple[RatedBy, ...] = Field(
        default=(RatedBy.enterprise, RatedBy.office),
        min_length=1,
        description="Whose callbacks count: the enterprise's own, the office's on its behalf",
    )
    exclude_closed_invalid: bool = Field(
        default=True, description="Tickets closed as invalid, spam or a duplicate leave the rates"
    )
    exclude_final_answers: bool = Field(
        default=True, description="Certified final answers 最终答复 leave the rates"
    )

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> RatePolicy:
        total = self.response_weight + self.resolution_weight + self.satisfaction_weight
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"rate weights must sum to 1, got {total}")
        return self


def kind_code(rated_by: RatedBy, *, final_answer: bool, excluded: bool) -> str:
    """A callback kind's short stable name, e.g. ``e``, ``of``, ``ex``: the rater's initial, then
    ``f`` for a certified final answer, ``x`` for a ticket closed unhandled."""
    return rated_by.value[0] + ("f" if final_answer else "") + ("x" if excluded else "")


class CallbackKind(BaseModel):
    """What decides whether a callback is valid: who gave it, and how its ticket stands."""

    model_config = ConfigDict(frozen=True)

    rated_by: RatedBy = RatedBy.enterprise
    excluded: bool = False
    final_answer: bool = False

    @property
    def code(self) -> str:
        return kind_code(self.rated_by, final_answer=self.final_answer, excluded=self.excluded)

    @classmethod
    def from_code(cls, code: str) -> CallbackKind:
        rater = RatedBy.office if code.startswith("o") else RatedBy.enterprise
        return cls(rated_by=rater, excluded="x" in code, final_answer="f" in code)


class CallbackRecord(BaseModel):
    """One callback answer: whether the enterprise was contacted, the problem solved, and how satisfied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ticket_id: str
    department: str
    rating: Rating
    rated_by: RatedBy = RatedBy.enterprise
    contacted: bool = True
    resolved: bool = True
    excluded: bool = Field(default=False, description="Closed as invalid/spam (excluded_from_rates)")
    final_answer: bool = Field(default=False, description="Certified final answer 最终答复")

    @property
    def kind(self) -> CallbackKind:
        return CallbackKind(rated_by=self.rated_by, excluded=self.excluded, final_answer=self.final_answer)


class CallbackTally(BaseModel):
    """Counted callbacks of one kind (or of every valid kind, summed)."""

    model_config = ConfigDict(frozen=True)

    callbacks: int = 0
    contacted: int = 0
    resolved: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0

    def __add__(self, other: CallbackTally) -> CallbackTally:
        return CallbackTally(
            callbacks=self.callbacks + other.callbacks,
            contacted=self.contacted + other.contacted,
            resolved=self.resolved + other.resolved,
            satisfied=self.satisfied + other.satisfied,
            basically_satisfied=self.basically_satisfied + other.basically_satisfied,
        )


class CallbackRates(BaseModel):
    model_config = ConfigDict(frozen=True)

    valid: int
    contacted: int
    resolved: int
    satisfied: int
    basically_satisfied: int
    response: float | None
    resolution: float | None
    satisfaction: float | None
    composite: float | None


def is_valid_kind(kind: CallbackKind, policy: RatePolicy) -> bool:
    if kind.rated_by not in policy.valid_raters:
        return False
    if kind.excluded and policy.exclude_closed_invalid:
        return False
    return not (kind.final_answer and policy.exclude_final_answers)


def is_valid_callback(record: CallbackRecord, policy: RatePolicy) -> bool:
    return is_valid_kind(record.kind, policy)


def tally_of(record: CallbackRecord) -> CallbackTally:
    return CallbackTally(
        callbacks=1,
        contacted=int(record.contacted),
        resolved=int(record.resolved),
        satisfied=int(record.rating is Rating.satisfied),
        basically_satisfied=int(record.rating is Rating.basically_satisfied),
    )


def rates_of(valid: CallbackTally, policy: RatePolicy) -> CallbackRates:
    """The rates over a tally of valid callbacks; ``None`` rates when there is none."""
    n = valid.callbacks
    response = valid.contacted / n if n else None
    resolution = valid.resolved / n if n else None
    satisfaction = (
        (valid.satisfied + policy.basically_satisfied_factor * valid.basically_satisfied) / n if n else None
    )
    composite = None
    if response is not None and resolution is not None and satisfaction is not None:
        composite = (
            policy.response_weight * response
            + policy.resolution_weight * resolution
            + policy.satisfaction_weight * satisfaction
        )
    return CallbackRates(
        valid=n,
        contacted=valid.contacted,
        resolved=valid.resolved,
        satisfied=valid.satisfied,
        basically_satisfied=valid.basically_satisfied,
        response=response,
        resolution=resolution,
        satisfaction=satisfaction,
        composite=composite,
    )


def valid_tally(tallies: dict[CallbackKind, CallbackTally], policy: RatePolicy) -> CallbackTally:
    """The sum of the tallies of the kinds the policy counts as valid."""
    total = CallbackTally()
    for kind, tally in tallies.items():
        if is_valid_kind(kind, policy):
            total = total + tally
    return total


def callback_rates(records: Iterable[CallbackRecord], policy: RatePolicy) -> CallbackRates:
    """The rates over the valid callbacks; ``None`` rates when there is no valid callback."""
    total = CallbackTally()
    for record in records:
        if is_valid_callback(record, policy):
            total = total + tally_of(record)
    return rates_of(total, policy)
