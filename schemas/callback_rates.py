"""The three rates as 12345 platforms compute them from callback (回访) answers.

Pure functions over plain records; no clock, no I/O. A callback is *valid* when
its ticket is not excluded from the rates (invalid/spam, and certified final
answers 最终答复 when the policy says so).

- response rate 响应率 = contacted / valid callbacks
- resolution rate 解决率 = resolved / valid
- satisfaction rate 满意率 = (satisfied + factor x basically satisfied) / valid
- composite 综合 = w_response x response + w_resolution x resolution + w_satisfaction x satisfaction
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.feedback import Rating


class RatePolicy(BaseModel):
    """``[rates]``: weights, the basically-satisfied factor and what counts as a valid callback."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    response_weight: float = Field(default=0.1, ge=0, le=1)
    resolution_weight: float = Field(default=0.5, ge=0, le=1)
    satisfaction_weight: float = Field(default=0.4, ge=0, le=1)
    basically_satisfied_factor: float = Field(default=0.9, ge=0, le=1)
    exclude_final_answers: bool = Field(
        default=True, description="Certified final answers 最终答复 leave the rates"
    )

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> RatePolicy:
        total = self.response_weight + self.resolution_weight + self.satisfaction_weight
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"rate weights must sum to 1, got {total}")
        return self


class CallbackRecord(BaseModel):
    """One callback answer: whether the enterprise was contacted, the problem solved, and how satisfied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ticket_id: str
    department: str
    rating: Rating
    contacted: bool = True
    resolved: bool = True
    excluded: bool = Field(default=False, description="Closed as invalid/spam (excluded_from_rates)")
    final_answer: bool = Field(default=False, description="Certified final answer 最终答复")


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


def is_valid_callback(record: CallbackRecord, policy: RatePolicy) -> bool:
    if record.excluded:
        return False
    return not (record.final_answer and policy.exclude_final_answers)


def callback_rates(records: Iterable[CallbackRecord], policy: RatePolicy) -> CallbackRates:
    """The rates over the valid callbacks; ``None`` rates when there is no valid callback."""
    valid = [record for record in records if is_valid_callback(record, policy)]
    contacted = sum(record.contacted for record in valid)
    resolved = sum(record.resolved for record in valid)
    satisfied = sum(record.rating is Rating.satisfied for record in valid)
    basically = sum(record.rating is Rating.basically_satisfied for record in valid)
    if not valid:
        return CallbackRates(
            valid=0,
            contacted=0,
            resolved=0,
            satisfied=0,
            basically_satisfied=0,
            response=None,
            resolution=None,
            satisfaction=None,
            composite=None,
        )
    response = contacted / len(valid)
    resolution = resolved / len(valid)
    satisfaction = (satisfied + policy.basically_satisfied_factor * basically) / len(valid)
    composite = (
        policy.response_weight * response
        + policy.resolution_weight * resolution
        + policy.satisfaction_weight * satisfaction
    )
    return CallbackRates(
        valid=len(valid),
        contacted=contacted,
        resolved=resolved,
        satisfied=satisfied,
        basically_satisfied=basically,
        response=response,
        resolution=resolution,
        satisfaction=satisfaction,
        composite=composite,
    )
