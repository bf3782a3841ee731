"""The input scenarios: malformed messages on every input topic, and fuzzed HTTP requests at the web edge.

Both start with a few real tickets (some accepted by their lead), so poison and
fuzz can aim at tickets that exist, in states that refuse some actions.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import secrets
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumers.web_sessions import COOKIE, LOGIN_COOKIE
from schemas.events import now_in_district
from tests.chaos.counting import read_tickets
from tests.chaos.fuzz import Context, generate, routes_from_openapi
from tests.chaos.fuzz_client import send_all
from tests.chaos.kafka_io import DeadLetterTail, Sent, Where, produce_all
from tests.chaos.poison import TOPIC_KINDS, PoisonMaker, Target
from tests.chaos.results import Result
from tests.chaos.scenarios import Load, running, submit
from tests.chaos.settle import Watched, wait_settled
from tests.chaos.tickets import ticket_body

log = logging.getLogger(__name__)

WARM_UP = 12
TRACEBACK_END = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")


def _call(
    port: int,
    method: str,
    path: str,
    key: str | None = None,
    body: bytes | None = None,
    content_type: str = "application/json",
    cookie: str | None = None,
) -> tuple[int, bytes, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": content_type} | ({"X-API-Key": key} if key else {})
    headers |= {"Cookie": cookie} if cookie else {}
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), response
    finally:
        connection.close()


def warm_up(watched: Watched, load: Load, tag: str) -> list[Target]:
    """A few real tickets, every third accepted by its lead; the targets poison and fuzz aim at."""
    run = watched.run
    report = submit(watched, load, [ticket_body(tag, i, 0) for i in range(WARM_UP)])
    ids = list(report.acknowledged.values())
    wait_settled(watched, ids, [], idle_s=60, cap_s=180, settle_s=0.0)
    records = read_tickets(run.redis(), run.settings.redis_prefix)
    for record in list(records.values())[::3]:
        key = run.keys.get(f"dept-{record.lead_department}")
        if key and record.status.value == "routed":
            body = json.dumps({"actor": "王科长", "note": "已签收"}).encode()
            _call(run.api_port, "POST", f"/api/tickets/{record.ticket_id}/accept?wait_s=10", key, body)
    records = read_tickets(run.redis(), run.settings.redis_prefix)
    return [
        Target(r.ticket_id, r.lead_department, r.departments, r.status.value, r.submission)
        for r in records.values()
    ]


def malformed_scenario(load: Load) -> Result:
    """``load.malformed`` poison messages per input topic: all dead-lettered with a reason, no restarts."""
    name = "malformed"
    result = Result(name, "malformed")
    with running(name, load, result) as watched:
        run = watched.run
        topics = run.settings.topics
        targets = warm_up(watched, load, f"{name}-{int(time.time())}")
        restarts_before = dict(run.restarts())
        exits_before = len(run.exit_lines())
        maker = PoisonMaker(run.policy, targets, now_in_district())
        names = {kind: getattr(topics, kind) for kind in TOPIC_KINDS}
        messages = [(names[kind], p) for kind in TOPIC_KINDS for p in maker.batch(kind, load.malformed)]
        log.info("producing %d malformed messages", len(messages))
        sent = produce_all(run.settings.kafka_bootstrap, messages)
        accepted = [s for s in sent if s.where is not None]
        result.malformed_sent = len(accepted)
        refused = Counter(f"{s.topic} {s.kind}: {s.error}" for s in sent if s.where is None)
        result.notes += [f"broker refused {n}× {what}" for what, n in refused.items()]
        letters = _collect_letters(run.settings.kafka_bootstrap, topics.deadletter, accepted, load.idle_s)
        _dead_letter_figures(result, accepted, letters)
        after = run.restarts()
        result.worker_restarts = sum(max(0, n - restarts_before.get(s, 0)) for s, n in after.items())
        exits = run.exit_lines()[exits_before:]
        result.notes += [f"ztc run: {line}" for line in exits[:5]]
        if len(exits) > result.worker_restarts:
            result.worker_restarts = len(exits)
    return result


@dataclass
class Found:
    """Dead letters of the poison: by where it was written, and by the marker of a submission in it."""

    at: dict[Where, list[str]] = field(default_factory=lambda: defaultdict(list))
    marked: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def reasons(self, sent: Sent) -> tuple[list[str], bool]:
        """The reasons it was dead-lettered with, and whether only downstream (by its marker)."""
        exact = self.at.get(sent.where, []) if sent.where is not None else []
        if exact or sent.marker is None:
            return exact, False
        downstream = self.marked.get(sent.marker, [])
        return downstream, bool(downstream)


def _collect_letters(bootstrap: str, topic: str, sent: list[Sent], idle_s: float) -> Found:
    """Tail the dead-letter topic until every sent message has one, or nothing new came for ``idle_s``."""
    wanted = {s.where for s in sent if s.where is not None}
    markers = {s.marker for s in sent if s.marker is not None}
    found = Found()
    tail = DeadLetterTail(bootstrap, topic)
    last_change = time.monotonic()
    read = 0
    try:
        while True:
            if tail.poll():
                last_change = time.monotonic()
                for letter in tail.letters[read:]:
                    if letter.where in wanted:
                        found.at[letter.where].append(letter.reason)
                    for marker in letter.markers & markers:
                        found.marked[marker].append(letter.reason)
                read = len(tail.letters)
                done = sum(1 for s in sent if found.reasons(s)[0])
                log.info("dead letters: %d of %d malformed messages", done, len(sent))
            if all(found.reasons(s)[0] for s in sent) or time.monotonic() - last_change > idle_s:
                return found
            time.sleep(1.0)
    finally:
        tail.close()


def _dead_letter_figures(result: Result, sent: list[Sent], found: Found) -> None:
    missing: Counter[tuple[str, str]] = Counter()
    blank: Counter[tuple[str, str]] = Counter()
    downstream: Counter[tuple[str, str]] = Counter()
    per_topic: Counter[str] = Counter()
    for s in sent:
        per_topic[s.topic] += 1
        reasons, later = found.reasons(s)
        if not reasons:
            missing[(s.topic, s.kind)] += 1
        elif not any(r.strip() for r in reasons):
            blank[(s.topic, s.kind)] += 1
        if later:
            downstream[(s.topic, s.kind)] += 1
    result.not_dead_lettered = sum(missing.values())
    result.without_reason = sum(blank.values())
    for topic, n in per_topic.items():
        lost = sum(v for (t, _), v in missing.items() if t == topic)
        result.notes.append(f"{topic}: {n - lost} of {n} dead-lettered ({100 * (n - lost) / n:.1f} %)")
    for (topic, kind), n in sorted(missing.items()):
        result.notes.append(f"not dead-lettered: {topic} {kind} ×{n}")
    for (topic, kind), n in sorted(blank.items()):
        result.notes.append(f"dead-lettered without a reason: {topic} {kind} ×{n}")
    for (topic, kind), n in sorted(downstream.items()):
        result.notes.append(f"dead-lettered downstream (found by its message id): {topic} {kind} ×{n}")
    doubled = sum(1 for reasons in found.at.values() if len(reasons) > 1)
    if doubled:
        result.notes.append(f"{doubled} messages dead-lettered more than once")


def add_dispatcher(env: dict[str, str], username: str) -> str:
    """An office dispatcher made with ``ztc user add`` (password on stdin); its password."""
    password = secrets.token_urlsafe(16)
    subprocess.run(
        [sys.executable, "-m", "ztc", "user", "add", username, "--role", "dispatcher", "--password-stdin"],
        input=password + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return password


def _session_cookie(port: int, env: dict[str, str]) -> str | None:
    """A dispatcher's session: the account made with ``ztc user add``, signed in through the form."""
    password = add_dispatcher(env, "chaos-office")
    _, page, response = _call(port, "GET", "/dashboard/login")
    signin = (response.getheader("set-cookie") or "").split(";", 1)[0]
    token = re.search(r'name="csrf" value="([^"]+)"', page.decode())
    if not signin.startswith(f"{LOGIN_COOKIE}=") or token is None:
        return None
    form = f"username=chaos-office&password={password}&csrf={token.group(1)}&next=/dashboard".encode()
    status, _, response = _call(
        port,
        "POST",
        "/dashboard/login",
        body=form,
        content_type="application/x-www-form-urlencoded",
        cookie=signin,
    )
    cookies = response.msg.get_all("set-cookie") or []
    session = next((c.split(";", 1)[0] for c in cookies if c.startswith(f"{COOKIE}=")), None)
    return session if status == 303 else None


def fuzz_scenario(load: Load) -> Result:
    """``load.fuzz`` hostile requests at every route; no answer may be a 5xx."""
    name = "fuzz-http"
    result = Result(name, "fuzz")
    with running(name, load, result) as watched:
        run = watched.run
        targets = warm_up(watched, load, f"{name}-{int(time.time())}")
        _, raw, _ = _call(run.api_port, "GET", "/openapi.json")
        document: dict[str, Any] = json.loads(raw)
        cookie = _session_cookie(run.api_port, run.env)
        if cookie is None:
            result.notes.append("could not sign in to the dashboard; its pages are fuzzed signed out")
        ids = tuple(t.ticket_id for t in targets)
        keys = run.keys
        context = Context(
            routes_from_openapi(document),
            keys=tuple(keys.values()),
            channel_keys=tuple(v for k, v in keys.items() if k.startswith("channel-")),
            department_keys=tuple(v for k, v in keys.items() if k.startswith("dept-")),
            ticket_ids=ids,
            cookie=cookie,
        )
        exits_before = len(run.exit_lines())
        started = time.monotonic()
        batch = generate(context, load.fuzz)
        log.info("generated %d requests in %.0fs", len(batch), time.monotonic() - started)
        report = send_all(run.api_port, batch)
        result.requests = sum(report.statuses.values())
        result.server_errors = report.count_5xx
        result.notes.append(f"answers: {dict(sorted(report.statuses.items()))}")
        for route, answers in sorted(report.by_route.items()):
            result.notes.append(f"  {route}: {' '.join(f'{s}×{n}' for s, n in sorted(answers.items()))}")
        if report.unsendable:
            result.notes.append(
                f"{report.unsendable} generated requests http.client refused to write (skipped)"
            )
        result.notes += [f"5xx: {line}" for line in report.server_errors[:5]]
        result.notes += [f"no answer: {line}" for line in report.no_answer[:3]]
        exits = run.exit_lines()[exits_before:]
        result.worker_restarts = len(exits)
        result.notes += [f"ztc run: {line}" for line in exits[:5]]
        result.notes += [
            f"api.log: {n}× {what}" for what, n in logged_errors(run.data_dir / "logs" / "api.log")
        ]
    return result


def logged_errors(path: Path) -> list[tuple[str, int]]:
    """The exceptions a log's tracebacks ended in, most frequent first (``Type: message``, shortened)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    found: Counter[str] = Counter()
    inside = False
    for line in lines:
        if line.startswith("Traceback"):
            inside = True
        elif inside and TRACEBACK_END.match(line):
            found[line[:160]] += 1
            inside = False
    return found.most_common(5)
