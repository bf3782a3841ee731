"""Settings come from a mapping of ``ZTC_*`` variables, never from patched globals."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.settings import Settings, SettingsError


def test_defaults_use_the_embedded_stack() -> None:
    settings = Settings.from_env({})
    assert settings.embedded
    assert settings.kafka_bootstrap == "127.0.0.1:19092"
    assert settings.redis == "redis://127.0.0.1:16379/0"
    assert settings.topics.submitted == "tickets.submitted"


def test_real_cluster_and_prefix_come_from_variables() -> None:
    settings = Settings.from_env(
        {
            "ZTC_BOOTSTRAP_SERVERS": "kafka-1:9092,kafka-2:9092",
            "ZTC_REDIS_URL": "redis://redis:6379/2",
            "ZTC_TOPIC_PREFIX": "prod.",
            "ZTC_POLICY_PATH": "/etc/ztc/policy.toml",
            "ZTC_EMPTY_IS_IGNORED": "",
            "ZTC_PARTITIONS": "",
            "HOME": "/root",
        }
    )
    assert not settings.embedded
    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert settings.topics.department("approval") == "prod.dept.approval"
    assert settings.topics.deadletter == "prod.tickets.deadletter"
    assert settings.policy_path == Path("/etc/ztc/policy.toml")
    assert settings.partitions == 3


def test_a_bad_value_names_its_variable() -> None:
    with pytest.raises(SettingsError, match=r"^ZTC_BROKER_PORT: "):
        Settings.from_env({"ZTC_BROKER_PORT": "ninety"})


def test_every_topic_is_listed_once() -> None:
    topics = Settings().topics
    names = topics.all(("office", "approval"))
    assert len(names) == len(set(names)) == 9
    assert "dept.office" in names and "tickets.feedback" in names and "tickets.sla" in names
    # every topic any worker writes to is created up front (a cluster may not auto-create topics)
    written = {topics.submitted, topics.validated, topics.reroute, topics.routed, topics.feedback}
    assert written | {topics.sla, topics.deadletter} <= set(names)
