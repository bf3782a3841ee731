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
    written = {topics.submitted, topics.reroute, topics.routed, topics.feedback}
    assert written | {topics.sla, topics.deadletter} <= set(names)


def test_error_names_the_variable_in_chinese_and_english() -> None:
    with pytest.raises(SettingsError, match=r"^ZTC_ACTOR: 设置无效 invalid setting: "):
        Settings.from_env({"ZTC_ACTOR": "   "})
    with pytest.raises(SettingsError, match=r"^ZTC_ACTOR: "):
        Settings.from_env({"ZTC_ACTOR": "张\x07三"})


def test_api_keys_file_defaults_to_the_data_dir() -> None:
    assert Settings.from_env({"ZTC_DATA_DIR": "/srv/ztc"}).api_keys_path == Path("/srv/ztc/api-keys.toml")
    given = Settings.from_env({"ZTC_DATA_DIR": "/srv/ztc", "ZTC_API_KEYS": "/etc/ztc/keys.toml"})
    assert given.api_keys_path == Path("/etc/ztc/keys.toml")


def test_actor_comes_from_the_settings_then_the_login_name() -> None:
    from ztc.bootstrap import actor_for

    assert Settings.from_env({"ZTC_ACTOR": " 张三 "}).actor == "张三"
    assert actor_for(Settings(actor="张三"), "李四") == "李四"
    assert actor_for(Settings(actor="张三")) == "张三"
    assert actor_for(Settings()) != ""


def test_topics_are_ready_only_for_the_broker_the_supervisor_prepared() -> None:
    variable = Settings.variable("internal_topics_ready")
    assert variable == "ZTC_INTERNAL_TOPICS_READY"
    assert not Settings.from_env({}).topics_ready
    assert Settings.from_env({variable: "127.0.0.1:19092"}).topics_ready
    other = {variable: "127.0.0.1:19092", "ZTC_BOOTSTRAP_SERVERS": "kafka-1:9092"}
    assert not Settings.from_env(other).topics_ready


def test_readme_lists_every_setting() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [
        Settings.variable(n) for n in Settings.model_fields if f"`{Settings.variable(n)}`" not in readme
    ]
    assert missing == [], "add these to README's table of settings"


def test_the_heartbeat_must_fit_three_times_in_the_session_timeout() -> None:
    assert (
        Settings.from_env(
            {"ZTC_HEARTBEAT_INTERVAL_S": "1", "ZTC_SESSION_TIMEOUT_S": "6"}
        ).heartbeat_interval_s
        == 1
    )
    with pytest.raises(SettingsError, match="heartbeat_interval_s"):
        Settings.from_env({"ZTC_HEARTBEAT_INTERVAL_S": "3", "ZTC_SESSION_TIMEOUT_S": "6"})
