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
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas.attachments import DEFAULT_TYPES, AttachmentRules
from schemas.feedback import Actor
from schemas.topics import Topics

ENV_PREFIX = "ZTC_"


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


class SettingsError(ValueError):
    """A ``ZTC_*`` variable with a value that cannot be used."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str | None = Field(
        default=None, description="Kafka bootstrap servers, e.g. kafka-1:9092,kafka-2:9092"
    )
    redis_url: str | None = Field(default=None, description="e.g. redis://redis:6379/0")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="how every Kafka client connects (SASL_SSL with SCRAM in production)"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism (Strimzi's KafkaUser: scram-sha-512)"
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password (from a Secret)")
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA certificate(s) the brokers' certificates are checked against (PEM)"
    )
    kafka_ssl_certfile: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    kafka_ssl_keyfile: Path | None = Field(default=None, description="client key (mutual TLS)")
    redis_username: str | None = Field(default=None, description="Redis ACL user (Redis 6+)")
    redis_password: SecretStr | None = Field(
        default=None, description="Redis password (of the ACL user, or requirepass); overrides the URL's"
    )
    redis_ssl_ca_certs: Path | None = Field(
        default=None, description="CA certificate(s) of Redis's TLS certificate (PEM); use a rediss:// URL"
    )
    redis_ssl_certfile: Path | None = Field(default=None, description="client certificate (Redis TLS)")
    redis_ssl_keyfile: Path | None = Field(default=None, description="client key (Redis TLS)")
    redis_sentinels: str | None = Field(
        default=None,
        pattern=r"^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$",
        description="Sentinel addresses host:port,host:port; set: the master is found through them "
        "(and followed on failover) and ZTC_REDIS_URL only gives the database number and TLS",
    )
    redis_sentinel_master: str = Field(default="mymaster", min_length=1, description="Sentinel's master name")
    redis_sentinel_password: SecretStr | None = Field(
        default=None, description="password of the Sentinels themselves, if they require one"
    )
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
    alert_webhook_format: Literal["auto", "text", "dingtalk", "wecom"] = Field(
        default="auto",
        description="the webhook's message format: dingtalk (markdown + at), wecom (markdown), text; "
        "auto: by the URL's host (oapi.dingtalk.com, qyapi.weixin.qq.com), else text",
    )
    alert_webhook_secret: str | None = Field(
        default=None, description="DingTalk 加签 secret (SEC...): the webhook URL gets timestamp and sign"
    )
    dingtalk_app_secret: str | None = Field(
        default=None, description="AppSecret of the DingTalk outgoing robot that posts to /api/robot/dingtalk"
    )
    wecom_token: str | None = Field(default=None, description="WeCom robot callback Token")
    wecom_aes_key: str | None = Field(
        default=None, min_length=43, max_length=43, description="WeCom robot callback EncodingAESKey"
    )
    wecom_receive_id: str | None = Field(
        default=None, description="WeCom callback receiver id to insist on (corp id); unset: not checked"
    )
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
    attachment_types: str = Field(
        default=DEFAULT_TYPES, description="comma list of the file types accepted as attachments"
    )
    attachment_max_mb: float = Field(default=10, gt=0, le=100, description="largest attachment, MiB")
    attachment_dir: Path | None = Field(
        default=None, description="where attachments are kept; unset: <data_dir>/attachments"
    )
    attachment_s3_bucket: str | None = Field(
        default=None, description="keep attachments in this S3-compatible bucket instead of a directory"
    )
    attachment_s3_endpoint: str | None = Field(
        default=None,
        description="the S3-compatible endpoint (MinIO, Ceph, OSS…); unset: boto3's default (AWS); "
        "credentials come from boto3's usual places (AWS_ACCESS_KEY_ID…, ~/.aws)",
    )
    actor: Actor | None = Field(
        default=None, description="who CLI actions are recorded as; unset: the login name"
    )
    internal_topics_ready: str | None = Field(
        default=None,
        description="internal: set by `ztc run` for its workers, the bootstrap servers whose topics "
        "it created already (so each worker skips creating them)",
    )
    internal_hold_start: bool = Field(
        default=False,
        description="internal: set by `ztc run` for a worker it starts before the stack is up; the "
        "worker loads its code and model, then waits for one line on its stdin before it connects",
    )

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> Settings:
        if self.heartbeat_interval_s * 3 > self.session_timeout_s:
            raise ValueError(
                "heartbeat_interval_s must be at most a third of session_timeout_s "
                f"({self.heartbeat_interval_s} > {self.session_timeout_s}/3)"
            )
        return self

    @model_validator(mode="after")
    def _security_complete(self) -> Settings:
        sasl = self.kafka_security_protocol.startswith("SASL")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError("kafka_sasl_username and kafka_sasl_password are needed for SASL")
        if not sasl and self.kafka_sasl_username:
            raise ValueError("kafka_sasl_username is set but kafka_security_protocol has no SASL")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("kafka_ssl_certfile and kafka_ssl_keyfile go together")
        if (self.redis_ssl_certfile is None) != (self.redis_ssl_keyfile is None):
            raise ValueError("redis_ssl_certfile and redis_ssl_keyfile go together")
        redis_tls_files = (self.redis_ssl_ca_certs, self.redis_ssl_certfile)
        if any(f is not None for f in redis_tls_files) and not (self.redis_url or "").startswith("rediss://"):
            raise ValueError("the redis_ssl_* files need a rediss:// redis_url (TLS)")
        return self

    @property
    def kafka_tls(self) -> bool:
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    def kafka_client_options(self) -> dict[str, Any]:
        """Security options of a kafka-python client (producer, consumer, admin): nothing for PLAINTEXT."""
        out: dict[str, Any] = {}
        if self.kafka_security_protocol == "PLAINTEXT":
            return out
        out["security_protocol"] = self.kafka_security_protocol
        if self.kafka_security_protocol.startswith("SASL"):
            out |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": _secret(self.kafka_sasl_password),
            }
        if self.kafka_tls:
            out["ssl_check_hostname"] = True
            optional = {
                "ssl_cafile": self.kafka_ssl_cafile,
                "ssl_certfile": self.kafka_ssl_certfile,
                "ssl_keyfile": self.kafka_ssl_keyfile,
            }
            out |= {key: str(path) for key, path in optional.items() if path is not None}
        return out

    def redis_connection_options(self) -> dict[str, Any]:
        """Credentials and TLS files of a Redis connection (redis-py keyword arguments)."""
        out: dict[str, Any] = {}
        if self.redis_username is not None:
            out["username"] = self.redis_username
        if self.redis_password is not None:
            out["password"] = self.redis_password.get_secret_value()
        optional = {
            "ssl_ca_certs": self.redis_ssl_ca_certs,
            "ssl_certfile": self.redis_ssl_certfile,
            "ssl_keyfile": self.redis_ssl_keyfile,
        }
        out |= {key: str(path) for key, path in optional.items() if path is not None}
        return out

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """The Sentinels, as (host, port); empty without ``ZTC_REDIS_SENTINELS``."""
        if not self.redis_sentinels:
            return []
        pairs = (address.rsplit(":", 1) for address in self.redis_sentinels.split(","))
        return [(host, int(port)) for host, port in pairs]

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
    def attachment_dir_path(self) -> Path:
        """The attachments' directory: ``ZTC_ATTACHMENT_DIR``, else ``attachments`` in the data dir."""
        return self.attachment_dir if self.attachment_dir is not None else self.data_dir / "attachments"

    @property
    def attachment_rules(self) -> AttachmentRules:
        return AttachmentRules.parse(self.attachment_types, self.attachment_max_mb)

    @field_validator("attachment_types")
    @classmethod
    def _known_types(cls, value: str) -> str:
        AttachmentRules.parse(value, 1)
        return value

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
