"""The closed choices department actions carry: bounce reasons, 回访 answers, invalid kinds.

Kept apart from ``schemas.feedback`` (which re-exports them) so the events module stays one
table of events. Each choice has a Chinese ``label`` the pages and the CLI show beside its value.
"""

from __future__ import annotations

from enum import StrEnum


class BounceReason(StrEnum):
    not_our_remit = "not_our_remit"
    wrong_street = "wrong_street"
    needs_other_department = "needs_other_department"
    duplicate = "duplicate"

    @property
    def label(self) -> str:
        return {
            "not_our_remit": "非本部门职责",
            "wrong_street": "非本街道",
            "needs_other_department": "需其他部门办理",
            "duplicate": "重复工单",
        }[self.value]


class Rating(StrEnum):
    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    unsatisfied = "unsatisfied"

    @property
    def label(self) -> str:
        return {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}[self.value]

    @property
    def closes(self) -> bool:
        return self is not Rating.unsatisfied


class RatedBy(StrEnum):
    enterprise = "enterprise"
    office = "office"


class Answer(StrEnum):
    """A 回访 question's yes / no (是否联系企业, 问题是否解决, 是否认定为最终答复)."""

    yes = "yes"
    no = "no"

    @property
    def label(self) -> str:
        return {"yes": "是", "no": "否"}[self.value]

    @property
    def truth(self) -> bool:
        return self is Answer.yes


class InvalidKind(StrEnum):
    """Why the office closes a ticket without handling it (such tickets leave the three rates)."""

    invalid = "invalid"
    spam = "spam"

    @property
    def label(self) -> str:
        return {"invalid": "无效诉求", "spam": "骚扰或垃圾信息"}[self.value]
