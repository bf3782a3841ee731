"""Kafka and Redis security from ``ZTC_*`` settings alone: what each client is given.

The embedded broker speaks neither TLS nor SASL, so the Kafka side is checked at the
clients' doors: every option is one kafka-python knows, aiokafka (under Faust) accepts
the credentials, and the TLS context checks the broker against the CA it was given.
Redis TLS, ACL users and Sentinel run against real servers in
``tests/integration/test_secure_connections.py``.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from faust.auth import SASLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from schemas.events import now_in_district
from schemas.settings import Settings, SettingsError
from streams.kafka_security import faust_credentials


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ca")
    cert, key = directory / "ca.crt", directory / "ca.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=ztc-test-ca",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert


def sasl_ssl(ca_file: Path, mechanism: str = "SCRAM-SHA-512") -> Settings:
    return Settings.from_env(
        {
            "ZTC_BOOTSTRAP_SERVERS": "kafka-0.kafka:9093",
            "ZTC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ZTC_KAFKA_SASL_MECHANISM": mechanism,
            "ZTC_KAFKA_SASL_USERNAME": "ztc",
            "ZTC_KAFKA_SASL_PASSWORD": "from-a-secret",
            "ZTC_KAFKA_SSL_CAFILE": str(ca_file),
        }
    )


def test_plaintext_gives_the_clients_nothing_and_faust_no_credentials() -> None:
    assert Settings().kafka_client_options() == {}
    assert faust_credentials(Settings()) is None


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_options_are_ones_every_kafka_python_client_knows(ca_file: Path, mechanism: str) -> None:
    options = sasl_ssl(ca_file, mechanism).kafka_client_options()
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "ztc",
        "sasl_plain_password": "from-a-secret",
        "ssl_check_hostname": True,
        "ssl_cafile": str(ca_file),
    }
    for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        assert set(options) <= set(client.DEFAULT_CONFIG), client.__name__


def test_faust_gets_scram_over_tls_checked_against_the_ca(ca_file: Path) -> None:
    credentials = faust_credentials(sasl_ssl(ca_file, "SCRAM-SHA-256"))
    auth = dict(credentials_to_aiokafka_auth(credentials))
    assert (auth["security_protocol"], auth["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-256")
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("ztc", "from-a-secret")
    context = auth["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "ztc-test-ca"),),)]

    async def construct() -> None:  # aiokafka checks the combination when the client is made
        AIOKafkaProducer(bootstrap_servers="kafka-0.kafka:9093", **auth)

    asyncio.run(construct())


def test_tls_without_sasl(ca_file: Path) -> None:
    env = {"ZTC_KAFKA_SECURITY_PROTOCOL": "SSL", "ZTC_KAFKA_SSL_CAFILE": str(ca_file)}
    settings = Settings.from_env(env)
    assert settings.kafka_client_options()["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in settings.kafka_client_options()
    auth = dict(credentials_to_aiokafka_auth(faust_credentials(settings)))
    assert auth["security_protocol"] == "SSL" and isinstance(auth["ssl_context"], ssl.SSLContext)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"ZTC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "kafka_sasl_username and kafka_sasl_password"),
        ({"ZTC_KAFKA_SASL_USERNAME": "ztc"}, "has no SASL"),
        ({"ZTC_KAFKA_SSL_CERTFILE": "/c.pem"}, "go together"),
        ({"ZTC_REDIS_URL": "redis://r:6379/0", "ZTC_REDIS_SSL_CA_CERTS": "/ca.pem"}, "rediss://"),
        ({"ZTC_REDIS_SENTINELS": "sentinel-0"}, "ZTC_REDIS_SENTINELS"),
        ({"ZTC_KAFKA_SASL_MECHANISM": "GSSAPI"}, "ZTC_KAFKA_SASL_MECHANISM"),
    ],
)
def test_an_incomplete_or_wrong_security_setting_is_refused_at_start(
    env: dict[str, str], problem: str
) -> None:
    with pytest.raises(SettingsError, match=problem):
        Settings.from_env(env)


def test_passwords_never_show_in_the_settings_printed(ca_file: Path) -> None:
    settings = sasl_ssl(ca_file).model_copy(update={"redis_password": "redis-secret"})
    assert "from-a-secret" not in repr(settings) and "from-a-secret" not in str(settings.model_dump())
    redis_settings = Settings.from_env({"ZTC_REDIS_USERNAME": "ztc", "ZTC_REDIS_PASSWORD": "redis-secret"})
    assert "redis-secret" not in repr(redis_settings)
    assert redis_settings.redis_connection_options() == {"username": "ztc", "password": "redis-secret"}


def test_the_router_app_is_built_with_the_credentials(ca_file: Path) -> None:
    from streams.router import build_router_app
    from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy

    settings = sasl_ssl(ca_file)
    app = build_router_app(settings, load_checked_policy(DEFAULT_POLICY), now_in_district)
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, SASLCredentials) and credentials.username == "ztc"
    assert credentials.protocol.value == "SASL_SSL" and credentials.mechanism.value == "SCRAM-SHA-512"
