"""Settings: one typed object built once from ``ZTC_*`` variables and passed down.

With nothing configured, ZTC uses the embedded stack (a Tansu broker and a
Redis server started from the project's own data dir). Setting
``ZTC_BOOTSTRAP_SERVERS`` and ``ZTC_REDIS_URL`` points the same code at a real
Kafka cluster and Redis.

This is the one place configuration is read: nothing else in the packages reads
the environment. An entrypoint calls ``ztc.bootstrap.settings_from_env()`` once
and passes the result down; tests pass a mapping or build ``Settings(...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.feedback import Actor
from schemas.topics import Topics

ENV_PREFIX = "ZTC_"


class SettingsError(ValueError):
    """A ``ZTC_*`` variable with a value that cannot be used."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str | None = Field(
        default=None, description="Kafka bootstrap servers, e.g. kafka-1:9092,kafka-2:9092"
    )
    redis_url: str | None = Field(default=None, description="e.g. redis://redis:6379/0")
    topic_prefix: str = Field(default="", description="Prefix for every topic name")
    redis_prefix: str = Field(default="ztc:", description="Prefix for every Redis key")
    policy_path: Path | None = Field(default=None, description="Routing policy TOML file")
    data_dir: Path = Field(default=Path(".ztc"), description="Embedded stack's data, logs, pids")
    broker_port: int = Field(default=19092, ge=1, le=65535)
    redis_port: int = Field(default=16379, ge=1, le=65535)
    partitions: int = Field(default=3, ge=1, le=64)
    replication_factor: int = Field(default=1, ge=1, le=5, description="For topics ZTC creates")
    group_prefix: str = Field(default="ztc", description="Prefix for consumer group / app ids")
    session_timeout_s: int = Field(
        default=6,
        ge=6,
        le=300,
        description="consumer-group session timeout (the embedded broker admits a new member after half)",
    )
    heartbeat_interval_s: float = Field(
        default=2.0,
        ge=0.2,
        le=30,
        description="consumer-group heartbeat; a dead worker's partitions move to the others after "
        "the session timeout, so keep it at most a third of ZTC_SESSION_TIMEOUT_S",
    )
    alert_sinks: str = Field(default="log", description="comma list of log, webhook, redis")
    alert_webhook_url: str | None = Field(default=None, description="group-robot webhook (WeCom/DingTalk)")
    alert_channel: str = Field(default="ztc:alerts", description="Redis pub/sub channel for alerts")
    monitor_interval_s: float = Field(default=1.0, gt=0, le=300)
    api_host: str = Field(default="127.0.0.1", description="where `ztc api` listens")
    api_port: int = Field(default=8080, ge=1, le=65535)
    metrics_token: str | None = Field(
        default=None,
        min_length=16,
        description="bearer token a scraper must send to the web edge's /metrics; unset: loopback only",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65000,
        description="first Prometheus port of the workers (router, +1 recorder, ...)",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="address the workers' metrics and health endpoints bind (0.0.0.0 in a container)",
    )
    health_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="port of a worker's /healthz (alive) and /readyz (joined to its group, Redis "
        "answering); unset: no health endpoints",
    )
    secure_cookies: bool = Field(
        default=False,
        description="mark sign-in cookies Secure on every request, also when TLS ends at a proxy that "
        "sends no X-Forwarded-Proto; unset: Secure whenever the request came over https",
    )
    trusted_proxies: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="comma list of reverse-proxy addresses (or *) whose X-Forwarded-For and "
        "X-Forwarded-Proto `ztc api` believes: the client address for sign-in lock-out, https for cookies",
    )
    api_keys: Path | None = Field(
        default=None, description="hashed API keys file; unset: <data_dir>/api-keys.toml"
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="where people reach `ztc api` (e.g. https://ztc.example.gov.cn), for the enterprise "
        "status links that `ztc submit` prints and the intake API returns; unset: http://API_HOST:API_PORT",
    )
    status_link_key: Path | None = Field(
        default=None,
        description="file holding the secret that signs enterprise status links (made, owner-only, on "
        "first use; every web process must share it); unset: <data_dir>/status-link.key",
    )
    status_link_days: int = Field(default=90, ge=1, le=3650, description="how long a status link lasts")
    actor: Actor | None = Field(
        default=None, description="who CLI actions are recorded as; unset: the login name"
    )
    internal_topics_ready: str | None = Field(
        default=None,
        description="internal: set by `ztc run` for its workers, the bootstrap servers whose topics "
        "it created already (so each worker skips creating them)",
    )

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> Settings:
        if self.heartbeat_interval_s * 3 > self.session_timeout_s:
            raise ValueError(
                "heartbeat_interval_s must be at most a third of session_timeout_s "
                f"({self.heartbeat_interval_s} > {self.session_timeout_s}/3)"
            )
        return self

    @property
    def embedded(self) -> bool:
        """True when no external broker is configured: use the embedded stack."""
        return self.bootstrap_servers is None

    @property
    def kafka_bootstrap(self) -> str:
        return self.bootstrap_servers or f"127.0.0.1:{self.broker_port}"

    @property
    def redis(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)

    @property
    def api_keys_path(self) -> Path:
        """The API keys file: ``ZTC_API_KEYS``, else ``api-keys.toml`` in the data dir."""
        return self.api_keys if self.api_keys is not None else self.data_dir / "api-keys.toml"

    @property
    def status_link_key_path(self) -> Path:
        """The status-link secret: ``ZTC_STATUS_LINK_KEY``, else ``status-link.key`` in the data dir."""
        return self.status_link_key if self.status_link_key is not None else self.data_dir / "status-link.key"

    @property
    def public_base_url(self) -> str:
        """The base of links people open: ``ZTC_PUBLIC_URL``, else where ``ztc api`` listens."""
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def topics_ready(self) -> bool:
        """True in a worker started by ``ztc run`` for this broker: its topics exist already."""
        return self.internal_topics_ready == self.kafka_bootstrap

    @staticmethod
    def variable(field: str) -> str:
        """The environment variable of a field: ``topic_prefix`` → ``ZTC_TOPIC_PREFIX``."""
        return ENV_PREFIX + field.upper()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``ZTC_*`` variables; raise SettingsError naming the variable."""
        values = {
            name: environ[cls.variable(name)]
            for name in cls.model_fields
            if environ.get(cls.variable(name), "") != ""
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            var = cls.variable(str(first["loc"][0])) if first["loc"] else "ZTC_*"
            raise SettingsError(f"{var}: 设置无效 invalid setting: {first['msg']}") from None
