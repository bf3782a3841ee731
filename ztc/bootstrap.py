"""Composition root: settings, policy and adapters built once per entrypoint and passed down."""

from __future__ import annotations

import logging
import os
from importlib.resources import files
from pathlib import Path

import redis

from consumers.ticket_store import RedisTicketStore
from schemas.policy import RoutingPolicy, load_policy
from schemas.settings import Settings

DEFAULT_POLICY = Path(str(files("deploy") / "policy" / "default.toml"))


def settings_from_env() -> Settings:
    return Settings.from_env(os.environ)


def policy_for(settings: Settings) -> RoutingPolicy:
    return load_policy(settings.policy_path or DEFAULT_POLICY)


def redis_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis, socket_connect_timeout=3, socket_timeout=10)


def ticket_store(settings: Settings) -> RedisTicketStore:
    return RedisTicketStore(redis_client(settings), settings.redis_prefix)


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
