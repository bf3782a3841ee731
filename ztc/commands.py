"""Command functions of the ``ztc`` CLI: each takes parsed args and returns an exit code."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from producers.demo import DEMO_TICKETS
from producers.publisher import TicketPublisher, build_submission
from schemas.attachments import AttachmentRef, AttachmentRefused, check_files
from schemas.events import DeadLettered, now_in_district
from schemas.policy import PolicyError
from schemas.privacy import mask_personal
from schemas.settings import Settings
from schemas.ticket import TicketRecord
from streams.routing import route_ticket
from ztc import render
from ztc.bootstrap import (
    SecretFileError,
    actor_for,
    attachment_store,
    load_checked_policy,
    load_model,
    model_for,
    policy_for,
    status_links,
    ticket_store,
)
from ztc.errors import CliError
from ztc.route_explain import explanation, explanation_lines

if TYPE_CHECKING:
    from consumers.dead_letters import DeadLetterStore

__all__ = ["CliError", "intake_publisher", "print_json"]

SERVICES = ("router", "recorder", "monitor", "alerter", "api")
TICKET_PATH = frozenset({"router", "recorder"})  # started first and at normal priority
BACKGROUND_DELAY_S = 2.5


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _settings(args: argparse.Namespace) -> Settings:
    settings: Settings = args.settings
    return settings


# ------------------------------------------------------------------ services


def dev(args: argparse.Namespace) -> int:
    from ztc.services import embedded_stack

    settings = _settings(args)
    stack = embedded_stack(settings)
    if args.action == "up":
        started = stack.up()
        print(f"已启动 started: {', '.join(started) or '(already running)'}")
    elif args.action == "down":
        stopped = stack.down()
        print(f"已停止 stopped: {', '.join(stopped) or '(nothing was running)'}")
    for status in stack.status():
        if status.running:
            state = f"running, pid {status.pid}"
        else:
            state = "stopped" if status.pid is None else f"not ready, pid {status.pid}"
        print(f"  {status.name:<7} 127.0.0.1:{status.port:<6} {state:<22} log: {status.log_path}")
    if stack.password_path.exists():
        print(f"  Redis 密码 password: {stack.password_path} (owner only; services read it from there)")
    if not settings.embedded:
        print("注意 note: ZTC_BOOTSTRAP_SERVERS is set; services use that broker, not this one")
    return 0


def router(args: argparse.Namespace) -> int:
    from ztc.services import run_router

    return run_router(_settings(args))


def recorder(args: argparse.Namespace) -> int:
    from ztc.services import run_recorder

    return run_recorder(_settings(args))


def _wait_recorded(settings: Settings, ticket_ids: list[str], timeout_s: float) -> dict[str, TicketRecord]:
    store = ticket_store(settings)
    found: dict[str, TicketRecord] = {}
    deadline = time.monotonic() + timeout_s
    while len(found) < len(ticket_ids) and time.monotonic() < deadline:
        for ticket_id in ticket_ids:
            if ticket_id not in found and (record := store.get(ticket_id)) is not None:
                found[ticket_id] = record
        time.sleep(0.2)
    return found


def run(args: argparse.Namespace) -> int:
    from ztc.services import StackWatch, Supervisor, embedded_stack, prepare_topics

    settings = _settings(args)
    policy = policy_for(settings)
    model_for(settings, policy)  # a bad policy or model fails here, before anything starts
    _require_free_ports(settings)
    stack = embedded_stack(settings, tied_to_parent=True) if settings.embedded else None
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    supervisor = Supervisor(settings, settings.data_dir / "logs")
    started: list[str] = []
    try:
        started = stack.up() if stack is not None else []
        print(f"ZTC 直通车 — broker {settings.kafka_bootstrap}, redis {settings.redis}", flush=True)
        prepare_topics(settings, policy)
        _web_credentials(settings, policy, args.demo)
        for name in SERVICES:  # the ticket path first; the others once it has had the CPU to start
            if name not in TICKET_PATH and stop.wait(BACKGROUND_DELAY_S if name == "monitor" else 0):
                break
            supervisor.start(name, background=name not in TICKET_PATH)
        print(f"{', '.join(SERVICES)} running; logs in {settings.data_dir / 'logs'}", flush=True)
        web = f"http://{settings.api_host}:{settings.api_port}"
        print(f"督办看板 dashboard {web}/dashboard (sign in) · API docs {web}/docs", flush=True)
        if args.demo and not stop.is_set():
            _feed_demo(settings, policy)
        print("运行中，按 Ctrl-C 停止 / running, Ctrl-C stops everything", flush=True)
        watch = StackWatch.for_run(stack, settings, policy, supervisor) if stack is not None else None
        while not stop.wait(1.0):
            notes = watch.check() if watch is not None else []
            for note in notes + supervisor.check():
                print(note, flush=True)
    finally:
        _say("正在停止 / stopping ...")
        killed = supervisor.stop()
        if stack is not None and started:
            stack.down(only=started)
        if killed:
            _say(f"已停止，但强制结束了未响应的服务 / stopped; killed unresponsive: {', '.join(killed)}")
        else:
            _say("已全部停止 / stopped cleanly")
    return 1 if killed else 0


def _web_credentials(settings: Settings, policy: Any, demo: bool) -> None:
    """API keys for channels and machines, and (demo) sign-ins for people; secrets printed once."""
    keys_file = settings.api_keys_path
    if demo and not keys_file.exists():
        from consumers.access import write_demo_keys  # the web stack loads only when needed

        plain = write_demo_keys(keys_file, policy.department_codes)
        print(f"演示 API 密钥 demo API keys (only hashes are stored, in {keys_file}):")
        for name, key in plain.items():
            print(f"  {name:<28} {key}")
    elif keys_file.exists():
        print(f"API 密钥 keys: hashes in {keys_file}; `ztc api keys FILE` writes a new set", flush=True)
    else:
        print(f"尚无 API 密钥 no API keys yet: `ztc api keys {keys_file}` writes them", flush=True)
    if demo:
        _demo_logins(settings, policy)


def _demo_logins(settings: Settings, policy: Any) -> None:
    """The demo accounts (one office dispatcher, one clerk per department, an administrator)."""
    from consumers.account_store import RedisAccountStore
    from consumers.accounts import Passwords, ensure_demo_accounts
    from ztc.bootstrap import redis_client

    path = settings.data_dir / "demo-logins.txt"
    store = RedisAccountStore(redis_client(settings), settings.redis_prefix)
    names = {d.code: d.name for d in policy.departments}
    created = ensure_demo_accounts(store, Passwords(), names, path, now_in_district())
    if created:
        print(f"演示登录 demo sign-ins (passwords hashed in Redis; also in {path}, owner only):")
        for username, password in created.items():
            print(f"  {username:<28} {password}")
    else:
        print(f"演示登录 demo sign-ins: accounts exist; their first passwords are in {path}", flush=True)


def _require_free_ports(settings: Settings) -> None:
    from deploy.embedded import port_is_free
    from ztc.services import METRICS_OFFSET

    wanted = [(settings.api_port, "ZTC_API_PORT", "the web API")]
    if settings.metrics_port is not None:
        wanted += [
            (settings.metrics_port + i, "ZTC_METRICS_PORT", f"{n} metrics") for n, i in METRICS_OFFSET.items()
        ]
    for port, variable, what in wanted:
        if not port_is_free(port):
            raise CliError(
                f"端口被占用 port {port} for {what} is taken by another program; "
                f"set {variable} to a free port"
            )


def _say(line: str) -> None:
    """Print during shutdown; a closed terminal or pipe must not stop the cleanup."""
    with contextlib.suppress(OSError):
        print(line, flush=True)


def _feed_demo(settings: Settings, policy: Any) -> None:
    """Publish the seed's demo tickets once: a store that has them is not fed again."""
    publisher = intake_publisher(settings)
    try:
        now = now_in_district()
        submissions = [build_submission(fields, now) for fields in DEMO_TICKETS]
        admissions = publisher.publish_many(submissions)
    finally:
        publisher.close()
    fresh = sum(a.new for a in admissions)
    if fresh:
        print(f"已提交 {fresh} 件演示工单 / demo tickets published; waiting for routing ...")
    else:
        print("演示工单已在库中，不再重复提交 / the demo tickets are already recorded; not fed again")
    ticket_ids = [a.ticket_id for a in admissions]
    found = _wait_recorded(settings, ticket_ids, timeout_s=60)
    for submission, ticket_id in zip(submissions, ticket_ids, strict=True):
        record = found.get(ticket_id)
        if record is None:
            print(f"{ticket_id}  {submission.title}: not recorded yet (see logs)")
            continue
        co = "、".join(render.dept_name(c, policy) for c in record.co_departments) or "无"
        print(
            f"{record.ticket_id}  {mask_personal(submission.title)}\n"
            f"  → 主办 {render.dept_name(record.lead_department, policy)}；协办 {co}；"
            f"{record.status_label}，类别 {record.category}，置信度 {record.confidence:.2f}"
        )


# ------------------------------------------------------------------ intake


def _fields_from_args(args: argparse.Namespace) -> dict[str, Any]:
    if args.json_file:
        source = sys.stdin.read() if args.json_file == "-" else Path(args.json_file).read_text("utf-8")
        try:
            fields = json.loads(source)
        except json.JSONDecodeError as exc:
            raise CliError(f"{args.json_file}: 不是合法的 JSON not JSON: {exc}") from None
        if not isinstance(fields, dict):
            raise CliError(f"{args.json_file}: 应为 JSON 对象 expected a JSON object")
        return fields
    if not args.text:
        raise CliError("需要 --text（或 --json FILE）/ --text is required (or --json FILE)")
    return {
        "title": args.title,
        "text": args.text,
        "enterprise_name": args.enterprise,
        "credit_code": args.credit_code,
        "contact": args.contact,
        "street": args.street,
        "project_name": args.project,
        "channel": args.channel,
        "channel_message_id": args.message_id,
    }


def intake_publisher(settings: Settings) -> TicketPublisher:
    """The publisher of the CLI's intake and actions: durable in the Redis outbox before it answers."""
    from producers.outbox import RedisOutbox

    outbox = RedisOutbox(ticket_store(settings).client, settings.redis_prefix)
    return TicketPublisher(
        settings.kafka_bootstrap,
        settings.topics.submitted,
        outbox,
        client_options=settings.kafka_client_options(),
    )


def _kept_attachments(settings: Settings, paths: list[Path]) -> list[AttachmentRef]:
    """Each file checked by the attachment rules and kept in the attachment store: its reference."""
    try:
        files = [(path.name, path.read_bytes()) for path in paths]
        refs = check_files(files, settings.attachment_rules)
    except OSError as exc:
        raise CliError(f"附件无法读取 cannot read attachment: {exc}") from None
    except AttachmentRefused as exc:
        raise CliError(str(exc)) from None
    store = attachment_store(settings)
    for ref, (_, data) in zip(refs, files, strict=True):
        store.put(ref.sha256, data)
    return list(refs)


def submit(args: argparse.Namespace) -> int:
    settings = _settings(args)
    fields = _fields_from_args(args)
    if args.attach:
        fields["attachments"] = _kept_attachments(settings, args.attach)
    submission = build_submission(fields, now_in_district())
    publisher = intake_publisher(settings)
    try:
        admission = publisher.publish(submission)
    finally:
        publisher.close()
    if not admission.new:
        print(
            f"重复提交 duplicate: this channel message is already ticket {admission.ticket_id}",
            file=sys.stderr,
        )
    print(admission.ticket_id)
    try:
        link = status_links(settings).link(admission.ticket_id, now_in_district())
    except (SecretFileError, OSError) as exc:  # the ticket is in: say why there is no link, not fail
        print(f"注意 note: no status link: {exc}", file=sys.stderr)
        return 0
    print(
        f"企业状态页 status page (有效期至 valid until {render.local(link.expires_at)}): {link.url}",
        file=sys.stderr,
    )
    return 0


# ------------------------------------------------------------------ views


def route(args: argparse.Namespace) -> int:
    from ztc.model_cmd import model_named
    from ztc.replay_cmd import run_replay

    settings = _settings(args)
    if args.replay is not None:
        return run_replay(args, settings)
    if args.policy is not None:  # a candidate policy, its model found beside it
        policy = load_checked_policy(args.policy)
        model = load_model(args.policy, policy)
    else:
        policy = policy_for(settings)
        model = model_for(settings, policy)
    if args.model is not None:
        model = model_named(settings, policy, args.model)
    now = now_in_district()
    submission = build_submission(_fields_from_args(args), now)
    decision = route_ticket(submission, policy, now, model=model)
    explained = explanation(submission, decision, policy, model) if args.explain else None
    if args.as_json:
        data = decision.model_dump(mode="json", exclude={"submission"})
        print_json(data if explained is None else {**data, "explain": explained})
        return 0
    print(render.routed_text(decision, policy))
    if explained is not None:
        print("\n".join(explanation_lines(explained)))
    return 0


def _dead_letters(settings: Settings) -> DeadLetterStore:
    from consumers.dead_letters import RedisDeadLetterStore

    return RedisDeadLetterStore(ticket_store(settings).client, settings.redis_prefix)


def deadletter(args: argparse.Namespace) -> int:
    """List open dead letters, show one, replay it after a fix, or discard it with a reason."""
    settings = _settings(args)
    store = _dead_letters(settings)
    if args.action == "list":
        records = store.open_letters(args.limit if args.limit > 0 else 10_000)
        if args.json:
            print_json([_masked_letter(r) for r in records])
            return 0
        print(f"待处理死信 open dead letters: {store.open_count()}")
        for record in records:
            print(f"{record.event_id[:12]}  {render.deadletter_text(record)}")
        return 0
    if not args.letter_id:
        raise CliError(f"需要死信编号 deadletter {args.action} needs a dead letter ID (see `ztc deadletter`)")
    from consumers.dead_letters import AmbiguousId, handled_note

    try:
        view = store.find(args.letter_id)
    except AmbiguousId as exc:
        raise CliError(str(exc)) from None
    if view is None:
        raise CliError(f"死信不存在 no dead letter {args.letter_id!r}")
    record = view.record
    if args.action == "show":
        if args.json:
            print_json({**_masked_letter(record), "handled": view.handled})
        else:
            print(f"{record.event_id}  {view.handled or '待处理 open'}\n{render.deadletter_text(record)}")
        return 0
    if view.handled:
        raise CliError(f"死信已处理 dead letter {record.event_id[:12]} was already handled: {view.handled}")
    actor = actor_for(settings, args.actor)
    if args.action == "discard":
        if not (args.reason or "").strip():
            raise CliError("丢弃需要 --reason 说明理由 / discard needs --reason (why this input is dropped)")
        store.mark(
            record.event_id, handled_note(f"discarded ({args.reason.strip()})", actor, now_in_district())
        )
        print(f"已丢弃 discarded {record.event_id[:12]}")
        return 0
    _replay(settings, record)
    store.mark(record.event_id, handled_note("replayed", actor, now_in_district()))
    print(f"已重放 replayed {record.event_id[:12]} → {record.source_topic}")
    return 0


def _masked_letter(record: DeadLettered) -> dict[str, Any]:
    """A dead letter for people: reason and preview masked (letters kept before masking existed too)."""
    from schemas.privacy import mask_personal

    shown = record.model_dump(mode="json", exclude={"original_b64"})
    return shown | {
        "reason": mask_personal(record.reason),
        "original_preview": mask_personal(record.original_preview),
    }


def _replay(settings: Settings, record: DeadLettered) -> None:
    """Send a dead letter's original back where it came from (a topic, or the monitor's due index)."""
    import base64

    if record.stage == "monitor":
        client = ticket_store(settings).client
        client.zadd(record.source_topic, {base64.b64decode(record.original_b64).decode(): 0})
        return
    if getattr(record, "original_truncated", False):
        raise CliError(
            "原文过大未完整保存，无法重放，请丢弃 / "
            "the original was too large to keep whole; it cannot be replayed (discard it)"
        )
    if record.source_topic not in settings.topics.all(policy_for(settings).department_codes):
        raise CliError(
            f"{record.source_topic} 不是本系统的主题，无法重放 / "
            "not a topic of this installation; cannot replay"
        )
    publisher = TicketPublisher(
        settings.kafka_bootstrap, record.source_topic, client_options=settings.kafka_client_options()
    )
    try:
        key = record.ticket_id.encode() if record.ticket_id != "-" else None
        publisher.publish_raw(base64.b64decode(record.original_b64), key)
    finally:
        publisher.close()


def policy_check(args: argparse.Namespace) -> int:
    from schemas.business_calendar import schedule_notice
    from schemas.sla_rules import calendar_for
    from streams.classifier import ModelLoadError
    from ztc.bootstrap import load_model

    try:
        policy = load_checked_policy(args.file)
    except PolicyError as exc:
        print(f"{exc.source}: {len(exc.problems)} 个错误 problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    try:
        load_model(args.file, policy)
    except ModelLoadError as exc:
        print(f"{args.file}: 1 个错误 problem(s)", file=sys.stderr)
        print(f"  model: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    notice = schedule_notice(calendar_for(policy.sla), now_in_district().date())
    if notice is not None:
        print(notice, file=sys.stderr)
    print(
        f"{args.file}: OK — version {policy.version}, {len(policy.departments)} departments, "
        f"{len(policy.categories)} categories, {len(policy.rules)} rules, threshold {policy.threshold}"
    )
    return 0
