"""Send a supervision report's summary (``consumers.report.summary_text``) to the alert sinks.

The same sinks as the SLA alerts (``ZTC_ALERT_SINKS``): ``log`` writes it to the log,
``webhook`` posts it as a group robot's text message (DingTalk 加签 when a secret is set),
``redis`` publishes ``{"report": title, "text": ...}`` on the alert channel. A report is sent
when someone asks (``ztc report ... --send``), once per asking: no ledger.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis

from consumers.alerts import SinkFailed, check_robot_answer
from schemas.robot_signatures import dingtalk_signed_url
from schemas.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentSummary:
    sink: str
    ok: bool
    detail: str = ""


def _post(url: str, text: str, timeout_s: float = 10.0) -> None:
    body = json.dumps({"msgtype": "text", "text": {"content": text}}, ensure_ascii=False).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        if not 200 <= int(response.status) < 300:
            raise OSError(f"webhook answered HTTP {response.status}")
        check_robot_answer(response.read(64 * 1024))


def send_summary(
    settings: Settings,
    client: Callable[[], redis.Redis],
    title: str,
    text: str,
    now: datetime,
) -> list[SentSummary]:
    """Send ``text`` to every configured sink; what each did (a failure does not stop the others)."""
    results = []
    for name in (n.strip() for n in settings.alert_sinks.split(",") if n.strip()):
        try:
            if name == "log":
                log.warning("REPORT %s", text.replace("\n", " / "))
            elif name == "webhook" and settings.alert_webhook_url:
                url, secret = settings.alert_webhook_url, settings.alert_webhook_secret
                _post(dingtalk_signed_url(url, secret, now) if secret else url, text)
            elif name == "redis":
                payload = json.dumps({"report": title, "text": text}, ensure_ascii=False)
                client().publish(settings.alert_channel, payload)
            else:
                results.append(SentSummary(name, False, "未配置 not configured"))
                continue
            results.append(SentSummary(name, True))
        except (OSError, urllib.error.URLError, redis.RedisError, ValueError, SinkFailed) as exc:
            results.append(SentSummary(name, False, str(exc)))
    return results
