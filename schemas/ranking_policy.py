"""``[ranking]``: how departments are ranked fairly in the supervision reports (督办通报).

- ``min_tickets``: a department with fewer valid callbacks (tickets called back) in the
  period is listed, not ranked — one ticket is no basis for first place;
- ``grade_by_kind``: rank street offices against street offices and bureaus against
  bureaus (分类排名), as most districts publish them;
- ``list_size``: the red list 红榜 (best N) and black list 黑榜 (worst N) of each grade;
- ``unranked``: departments never ranked (the office, which supervises).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RankingPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_tickets: int = Field(
        default=5,
        ge=1,
        description="Valid callbacks a department needs in a period before it is ranked",
    )
    grade_by_kind: bool = Field(
        default=True, description="Rank street offices and bureaus separately (by department kind)"
    )
    list_size: int = Field(default=3, ge=0, le=20, description="Red list and black list length per grade")
    unranked: tuple[str, ...] = Field(default=("office",), description="Department codes never ranked")
