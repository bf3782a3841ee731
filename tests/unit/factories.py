"""Small factories for unit tests of the pure core."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.events import DISTRICT_ZONE, TicketSubmitted

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=DISTRICT_ZONE)


def submission(text: str = "我们想办理食品经营许可证", **fields: Any) -> TicketSubmitted:
    values: dict[str, Any] = {
        "ticket_id": "ZTC-20261127-00000001",
        "occurred_at": NOW,
        "channel": "wechat_group",
        "channel_message_id": "m-1",
        "title": text[:20],
        "text": text,
        "submitted_at": NOW,
    }
    values.update(fields)
    return TicketSubmitted.model_validate(values)
