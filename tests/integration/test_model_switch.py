"""Learning from the office's dispatches and switching the model of a running router (issue 14).

On the embedded broker and Redis: tickets about EV chargers go to triage (the shipped model leans
to development: power connections); the office dispatches them by hand to transport, against the
model. ``classify train --from-history`` learns from those dispatches, ``classify compare`` shows
the change, a damaged model file is refused, ``classify switch`` makes the new model active, and
the router — never restarted — routes the next charger ticket to development, stamped with the
new model's version and hash. A damaged model put in Redis behind the command's back is refused
by the router, which keeps routing with the model it has.
"""

from __future__ import annotations

import hashlib
import json
import socket
import urllib.request
import zlib
from pathlib import Path

import pytest
import redis

from consumers.ticket_store import RedisTicketStore
from deploy.embedded import EmbeddedStack, free_port
from producers.publisher import TicketPublisher, build_submission
from schemas.events import now_in_district
from schemas.settings import Settings
from schemas.ticket import TicketRecord, TicketStatus
from streams.classifier import TextClassifier
from tests.integration.conftest import Services, WaitFor, stack_settings, wait_for_log, wait_for_status, ztc
from ztc.bootstrap import DEFAULT_POLICY

pytestmark = pytest.mark.integration

SHIPPED_MODEL = DEFAULT_POLICY.parent / "default-model.json"
TRAINING_CSV = DEFAULT_POLICY.parent / "default-training.csv"
DISPATCHED_BY_HAND = (
    "园区充电桩一直没装好，要找谁",
    "想给车队装一排充电桩，手续不清楚",
    "充电桩的事情不知道问谁",
    "小区旁边想装几个汽车充电桩，需要哪些手续",
    "新能源充电桩接电申请一直没批下来",
    "充电桩报装太慢了",
)
NEXT_OF_THAT_KIND = "我们停车场要装充电桩，电力报装找谁"  # the shipped model sends it to development
AUTO_ROUTED = "我们想办理食品经营许可证"  # the router decides alone: not a label


@pytest.fixture(scope="module")
def settings(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return stack_settings(
        stack, tmp_path_factory.mktemp("data"), model_check_s=0.3, metrics_port=free_port_block(4)
    )


def free_port_block(size: int) -> int:
    """A port whose next ``size - 1`` ports are free too (each worker serves metrics at base + k)."""
    while True:
        base = free_port()
        try:
            for port in range(base, base + size):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base


def router_model_info(settings: Settings) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=5) as answer:
        text: str = answer.read().decode()
    return [line for line in text.splitlines() if line.startswith("ztc_router_model_info{")]


def submit(settings: Settings, text: str) -> str:
    submission = build_submission({"channel": "wechat_group", "text": text}, now_in_district())
    publisher = TicketPublisher(settings.kafka_bootstrap, settings.topics.submitted)
    try:
        publisher.publish(submission)
    finally:
        publisher.close()
    return submission.ticket_id


def routed_by(record: TicketRecord) -> tuple[str, str]:
    details = record.history[0].details
    return str(details["model_version"]), str(details["model_sha256"])


def test_train_from_history_compare_and_switch_without_restarting_the_router(
    settings: Settings,
    services: Services,
    store: RedisTicketStore,
    wait_for_ticket: WaitFor,
    tmp_path: Path,
) -> None:
    shipped = TextClassifier.load(SHIPPED_MODEL).identity
    router = services.children["router"]
    hand = [submit(settings, text) for text in DISPATCHED_BY_HAND]
    auto = submit(settings, AUTO_ROUTED)
    for ticket_id in hand:
        record = wait_for_ticket(ticket_id, 60)
        assert record.status is TicketStatus.triage and record.category != "transport"  # the model's lean
        assert routed_by(record) == (shipped.version, shipped.sha256)
        ztc(settings, "dispatch", ticket_id, "--lead", "transport", check=True)
    assert wait_for_ticket(auto, 60).lead_department == "approval"
    assert router_model_info(settings) == [
        f'ztc_router_model_info{{sha256="{shipped.sha256}",version="{shipped.version}"}} 1.0'
    ]
    for ticket_id in hand:
        wait_for_status(store, ticket_id, TicketStatus.routed, timeout_s=60)

    new_model = tmp_path / "history.json"
    trained = ztc(
        settings,
        *("classify", "train", "--from-history", "--data", str(TRAINING_CSV)),
        *("--out", str(new_model), "--folds", "0", "--version", "office-2026-11"),
        check=True,
    )
    assert "采用 used 6，跳过 skipped 1" in trained.stdout, trained.stdout
    new = TextClassifier.load(new_model).identity
    assert (
        new.version == "office-2026-11" and new.sha256 == hashlib.sha256(new_model.read_bytes()).hexdigest()
    )

    compared = ztc(settings, "classify", "compare", "policy", str(new_model), "--json", check=True)
    report = json.loads(compared.stdout[compared.stdout.index("{") :])
    assert report["n"] == 6 and report["old"]["accuracy"] == 0.0 and report["new"]["accuracy"] == 1.0
    assert report["old"]["auto_share"] == 0.0 and report["new"]["auto_share"] == 1.0
    assert len(report["changes"]) == 6
    table = ztc(settings, "classify", "compare", "current", str(new_model), check=True).stdout
    assert "准确率 accuracy" in table and "transport" in table and "routes that change: 6" in table

    what_if = ztc(settings, "route", "--replay", "--model", str(new_model), "--as-json", check=True).stdout
    replayed = json.loads(what_if)
    assert replayed["n"] == 7 and replayed["changed"] == 6  # the food licence stays with approval
    assert replayed["leads"]["transport"] == [0, 6] and replayed["leads"]["office"] == [6, 0]

    damaged = tmp_path / "damaged.json"
    damaged.write_bytes(new_model.read_bytes()[:-200])
    refused = ztc(settings, "classify", "switch", str(damaged))
    assert refused.returncode != 0 and "未切换" in refused.stderr and "not switched" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    switched = ztc(settings, "classify", "switch", str(new_model), check=True)
    assert new.sha256[:12] in switched.stdout
    wait_for_log(services, "router", f"-> office-2026-11@{new.sha256[:12]}")
    before = ztc(settings, "route", "--text", NEXT_OF_THAT_KIND, "--as-json", check=True).stdout
    assert json.loads(before)["lead_department"] == "development"  # ``ztc route`` still reads the policy's
    record = wait_for_ticket(submit(settings, NEXT_OF_THAT_KIND), 60)
    assert (record.status, record.lead_department, record.category) == (
        TicketStatus.routed,
        "transport",
        "transport",
    )
    assert routed_by(record) == ("office-2026-11", new.sha256)
    assert router_model_info(settings) == [
        f'ztc_router_model_info{{sha256="{new.sha256}",version="office-2026-11"}} 1.0'
    ]

    _put_damaged_model_behind_the_commands_back(settings)
    wait_for_log(services, "router", "model switch refused, keeping it")
    record = wait_for_ticket(submit(settings, "公共充电桩建设要办什么手续"), 60)
    assert record.lead_department == "transport" and routed_by(record) == ("office-2026-11", new.sha256)
    assert services.children["router"] is router and router.poll() is None  # the same process throughout


def _put_damaged_model_behind_the_commands_back(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis)
    raw = b'{"format": "ztc-text-classifier", "format_version": 1, "labels": "broken"}\n'
    sha = hashlib.sha256(raw).hexdigest()
    client.set(f"{settings.redis_prefix}model:file:{sha}", zlib.compress(raw))
    pointer = {"version": "broken", "sha256": sha, "switched_at": "2026-11-29T05:00:00+08:00", "source": "x"}
    client.set(f"{settings.redis_prefix}model:active", json.dumps(pointer))
