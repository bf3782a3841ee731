"""The service commands of ``ztc``: ``run`` (everything), ``dev`` (the embedded stack), one worker each.

Only the standard library and settings at import: ``ztc run`` starts its children before it
loads anything heavy (see ``ztc.supervisor``).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from schemas.settings import Settings
from ztc.errors import CliError

if TYPE_CHECKING:
    from deploy.embedded import EmbeddedStack
    from schemas.policy import RoutingPolicy
    from schemas.ticket import TicketRecord
    from ztc.supervisor import Supervisor

SERVICES = ("router", "recorder", "monitor", "alerter", "hotspots", "api")
TICKET_PATH = ("router", "recorder")  # started first, held until the stack is up, at normal priority
BACKGROUND_DELAY_S = 2.5


def _settings(args: argparse.Namespace) -> Settings:
    settings: Settings = args.settings
    return settings


def dev(args: argparse.Namespace) -> int:
    from ztc.supervisor import embedded_stack

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
    from ztc.bootstrap import ticket_store

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
    """The whole system until Ctrl-C: the embedded stack (unless configured away) and every worker.

    The ticket path's workers (router, recorder) are started first, held: they import and load
    their model while this process checks the model, brings the stack up and creates the topics;
    then they are released. Start-up to the first routed ticket is thus the slower of the two,
    not their sum.
    """
    from ztc.bootstrap import model_for, policy_for
    from ztc.supervisor import Supervisor, embedded_stack, stop_on_signals

    settings = _settings(args)
    policy = policy_for(settings)
    _require_free_ports(settings)
    stack = embedded_stack(settings, tied_to_parent=True) if settings.embedded else None
    stop = stop_on_signals((signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    supervisor = Supervisor(settings, settings.data_dir / "logs")
    for name in TICKET_PATH:
        supervisor.start(name, hold=True)
    started: list[str] = []
    ready = False
    try:
        model_for(settings, policy)  # a bad model fails here, before the stack starts
        started = stack.up() if stack is not None else []
        ready = True
        _serve(settings, policy, stack, supervisor, stop, args.demo)
    finally:
        if not ready:
            supervisor.release(TICKET_PATH, go=False)
        _say("正在停止 / stopping ...")
        killed = supervisor.stop()
        if stack is not None and started:
            stack.down(only=started)
        if killed:
            _say(f"已停止，但强制结束了未响应的服务 / stopped; killed unresponsive: {', '.join(killed)}")
        else:
            _say("已全部停止 / stopped cleanly")
    return 1 if killed else 0


def _serve(
    settings: Settings,
    policy: RoutingPolicy,
    stack: EmbeddedStack | None,
    supervisor: Supervisor,
    stop: threading.Event,
    demo: bool,
) -> None:
    """With the stack up: topics, then the held ticket path, the other workers, and the watch."""
    from ztc.supervisor import StackWatch, prepare_topics

    print(f"ZTC 直通车 — broker {settings.kafka_bootstrap}, redis {settings.redis}", flush=True)
    prepare_topics(settings, policy)
    supervisor.release(TICKET_PATH)
    _web_credentials(settings, policy, demo)
    for name in SERVICES:  # the others once the ticket path has had the CPU to start
        if name in TICKET_PATH:
            continue
        if stop.wait(BACKGROUND_DELAY_S if name == "monitor" else 0):
            return
        supervisor.start(name, background=True)
    print(f"{', '.join(SERVICES)} running; logs in {settings.data_dir / 'logs'}", flush=True)
    web = f"http://{settings.api_host}:{settings.api_port}"
    print(f"督办看板 dashboard {web}/dashboard (sign in) · API docs {web}/docs", flush=True)
    if demo and not stop.is_set():
        _feed_demo(settings, policy)
    print("运行中，按 Ctrl-C 停止 / running, Ctrl-C stops everything", flush=True)
    watch = StackWatch.for_run(stack, settings, policy, supervisor) if stack is not None else None
    while not stop.wait(1.0):
        notes = watch.check() if watch is not None else []
        for note in notes + supervisor.check():
            print(note, flush=True)


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
    from schemas.events import now_in_district
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
    from producers.demo import DEMO_TICKETS
    from producers.publisher import build_submission
    from schemas.events import now_in_district
    from schemas.privacy import mask_personal
    from ztc import render
    from ztc.commands import intake_publisher

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
