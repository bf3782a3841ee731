"""Composition root: settings, policy and adapters built once per entrypoint and passed down."""

from __future__ import annotations

import getpass
import logging
import os
import secrets
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from schemas.settings import Settings

if TYPE_CHECKING:  # imported where used: a CLI command pays only for what it needs
    import redis

    from consumers.attachment_store import AttachmentStore
    from consumers.ticket_store import RedisTicketStore
    from schemas.policy import RoutingPolicy
    from schemas.status_links import StatusLinks
    from streams.classifier import TextClassifier
    from streams.model_watch import ModelWatch

DEFAULT_POLICY = Path(str(files("deploy") / "policy" / "default.toml"))


def settings_from_env() -> Settings:
    """The one place the environment enters: every entrypoint calls this once and passes it down."""
    return Settings.from_env(os.environ)


def actor_for(settings: Settings, given: str | None = None) -> str:
    """Who a CLI action is recorded as: ``--actor``, else ``ZTC_ACTOR``, else the login name."""
    if given:
        return given
    if settings.actor is not None:
        return settings.actor
    try:
        return getpass.getuser() or "cli"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"


def load_checked_policy(path: Path) -> RoutingPolicy:
    """A policy whose structure, references and SLA targets are all usable; else PolicyError."""
    from schemas.policy import PolicyError, PolicyProblem, load_policy
    from schemas.sla_rules import sla_problems

    policy = load_policy(path)
    problems = [PolicyProblem(path=where, message=message) for where, message in sla_problems(policy.sla)]
    if problems:
        raise PolicyError(str(path), problems)
    return policy


def policy_for(settings: Settings) -> RoutingPolicy:
    return load_checked_policy(settings.policy_path or DEFAULT_POLICY)


def model_path(policy_file: Path, model: str) -> Path:
    """Where a policy's ``model`` file is: as given if absolute, else beside the policy, else — for a
    copy of the default policy that kept ``model = "default-model.json"`` — beside the default policy.
    ModelLoadError (one line, both places named) if it is in neither."""
    from streams.classifier import ModelLoadError

    path = Path(model)
    if path.is_absolute():
        if not path.is_file():
            raise ModelLoadError(f"模型文件不存在 model file not found: {path}")
        return path
    candidates = [policy_file.parent / path, DEFAULT_POLICY.parent / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ModelLoadError(
        f"模型文件不存在 model file not found: {model!r} (looked in {candidates[0].parent} and "
        f"{candidates[1].parent}); 请修改政策中的 model / fix the policy's model"
    )


def load_model(policy_file: Path, policy: RoutingPolicy) -> TextClassifier | None:
    """The policy's classifier, loaded and checked; ModelLoadError (one line) if it is not usable."""
    from streams.classifier import ModelLoadError, TextClassifier
    from streams.routing import model_fit_problem

    if policy.model is None:
        return None
    path = model_path(policy_file, policy.model)
    model = TextClassifier.load(path)
    problem = model_fit_problem(model.labels, policy)
    if problem is not None:
        raise ModelLoadError(f"{path}: {problem}")
    return model


def model_for(settings: Settings, policy: RoutingPolicy) -> TextClassifier | None:
    """The classifier of the policy the settings name (see ``load_model``)."""
    return load_model(settings.policy_path or DEFAULT_POLICY, policy)


def router_model(
    settings: Settings, policy: RoutingPolicy, own: TextClassifier | None
) -> tuple[TextClassifier | None, ModelWatch]:
    """The model a router starts with — the one ``ztc classify switch`` made active, else ``own`` (the
    policy's, from ``model_for``, which raises ``ModelLoadError`` so the router does not start) — and the
    watch that hands it later switches. A switched-to model that cannot be used is logged and passed by."""
    from streams.model_registry import ModelRegistry
    from streams.model_watch import ModelWatch

    watch = ModelWatch(ModelRegistry(redis_client(settings), settings.redis_prefix), policy, own, own)
    watch.poll()
    swap = watch.take()
    return (swap.model if swap is not None else own), watch


def redis_url(settings: Settings) -> str:
    """Where Redis is: ``ZTC_REDIS_URL`` as given, else the embedded Redis with its password.

    The password is read from the data dir, where the embedded stack made it at its
    first start. Every Redis connection goes through here (or ``redis_client``).
    """
    if settings.redis_url is not None:
        return settings.redis_url
    from deploy.embedded import embedded_redis_url

    return embedded_redis_url(settings.data_dir, settings.redis_port)


def redis_client(settings: Settings) -> redis.Redis:
    """A client of the ZTC Redis: the URL's server, or the master the Sentinels name (followed on failover).

    ``ZTC_REDIS_USERNAME`` / ``ZTC_REDIS_PASSWORD`` (ACL user) and the ``ZTC_REDIS_SSL_*`` files apply to
    either; a ``rediss://`` URL turns TLS on (with Sentinel too: the URL then gives only TLS and the db).
    """
    import redis
    from redis.sentinel import Sentinel

    options: dict[str, Any] = {"socket_connect_timeout": 3, "socket_timeout": 10}
    options |= settings.redis_connection_options()
    sentinels = settings.sentinel_addresses()
    if not sentinels:
        return redis.Redis.from_url(redis_url(settings), **options)
    url = urlsplit(settings.redis_url or "redis://")
    tls = url.scheme == "rediss"
    db = int(url.path.strip("/") or 0)
    sentinel_password = settings.redis_sentinel_password
    sentinel_options: dict[str, Any] = {"socket_connect_timeout": 3, "socket_timeout": 3}
    if sentinel_password is not None:
        sentinel_options["password"] = sentinel_password.get_secret_value()
    if tls:
        sentinel_options |= {"ssl": True} | {k: v for k, v in options.items() if k.startswith("ssl_")}
    sentinel = Sentinel(sentinels, sentinel_kwargs=sentinel_options, **options)  # type: ignore[no-untyped-call]
    return cast(
        redis.Redis,
        sentinel.master_for(settings.redis_sentinel_master, db=db, ssl=tls),  # type: ignore[no-untyped-call]
    )


def ticket_store(settings: Settings, policy: RoutingPolicy | None = None) -> RedisTicketStore:
    """The Redis store; with a policy it also keeps the SLA clocks and indexes (the recorder's)."""
    from consumers.sla_engine import SlaBook
    from consumers.ticket_store import RedisTicketStore

    book = SlaBook(policy) if policy is not None else None
    return RedisTicketStore(redis_client(settings), settings.redis_prefix, book)


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )


class SecretFileError(ValueError):
    """A secret file that exists but cannot be used."""


def secret_file(path: Path) -> bytes:
    """The secret kept in ``path`` (hex, owner-only), made at random on first use.

    A process that loses the race to make it reads the one the winner wrote (``os.link``
    never replaces a file), so every process of one data dir signs with the same secret."""
    from schemas.status_links import MIN_SECRET_BYTES

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(MIN_SECRET_BYTES) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    text = path.read_text(encoding="utf-8").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise SecretFileError(f"{path}: not a hex secret; delete it to have a new one made") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretFileError(
            f"{path}: shorter than {MIN_SECRET_BYTES} bytes; delete it to have a new one made"
        )
    return secret


def status_links(settings: Settings) -> StatusLinks:
    """The enterprise status links of this deployment: its secret, lifetime and public address."""
    from schemas.status_links import StatusLinks

    secret = secret_file(settings.status_link_key_path)
    return StatusLinks(secret, settings.status_link_days, settings.public_base_url)


def attachment_store(settings: Settings) -> AttachmentStore:
    """Where attachments are kept: the S3-compatible bucket if one is set, else the directory."""
    from consumers.attachment_store import DirectoryAttachmentStore, S3AttachmentStore

    if settings.attachment_s3_bucket:
        return S3AttachmentStore(settings.attachment_s3_bucket, settings.attachment_s3_endpoint)
    return DirectoryAttachmentStore(settings.attachment_dir_path)
