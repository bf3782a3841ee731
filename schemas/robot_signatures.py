"""DingTalk's robot signatures, both ways. Pure: the moment is passed in.

DingTalk signs the same string in both directions: ``timestamp + "\\n" + secret``
(``timestamp`` in milliseconds), HMAC-SHA256 keyed with the secret, base64.

- **Custom robot webhooks (加签)**: the sender appends ``&timestamp=...&sign=...``
  to the webhook URL, the sign URL-encoded; DingTalk refuses a timestamp more
  than an hour away from its clock.
- **Outgoing robots (callbacks)**: DingTalk sends ``timestamp`` and ``sign``
  headers, signed with the robot's AppSecret; the receiver recomputes the sign
  and refuses a timestamp more than an hour from now.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote_plus

DINGTALK_SKEW_MS = 3600 * 1000
"""DingTalk's window: a timestamp more than an hour from now is refused."""


def millis(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("a timezone-aware moment is needed")
    return int(moment.timestamp() * 1000)


def dingtalk_sign(secret: str, timestamp_ms: int | str) -> str:
    """base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), not URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_signed_url(url: str, secret: str, now: datetime) -> str:
    """The webhook URL with ``timestamp`` and the URL-encoded ``sign`` appended (加签 robots)."""
    timestamp = millis(now)
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp}&sign={quote_plus(dingtalk_sign(secret, timestamp))}"


def dingtalk_callback_problem(
    secret: str, timestamp: str | None, sign: str | None, now: datetime
) -> str | None:
    """Why a callback is not from DingTalk (None: it is), by its ``timestamp`` and ``sign`` headers."""
    if not timestamp or not sign:
        return "缺少签名 missing timestamp or sign header"
    if not timestamp.isdigit():
        return "时间戳无效 timestamp is not milliseconds"
    if abs(millis(now) - int(timestamp)) > DINGTALK_SKEW_MS:
        return "时间戳超出一小时 timestamp more than an hour from now"
    if not hmac.compare_digest(dingtalk_sign(secret, timestamp), sign):
        return "签名不符 signature does not match"
    return None
