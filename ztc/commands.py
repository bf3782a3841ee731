"""Command functions of the ``ztc`` CLI: each takes parsed args and returns an exit code."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from producers.publisher import TicketPublisher, build_submission
from schemas.attachments import AttachmentRef, AttachmentRefused, check_files
from schemas.events import DeadLettered, now_in_district
from schemas.policy import PolicyError
from schemas.privacy import mask_personal
from schemas.settings import Settings
from streams.routing import route_ticket
from ztc import render
from ztc.bootstrap import (
    SecretFileError,
    actor_for,
    attachment_store,
    load_checked_policy,
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


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _settings(args: argparse.Namespace) -> Settings:
    settings: Settings = args.settings
    return settings


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
    settings = _settings(args)
    policy = policy_for(settings)
    model = model_for(settings, policy)
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
