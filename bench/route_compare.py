"""Are two versions' routing decisions bit-identical? Dump every decision field of a large corpus, compare.

PYTHONHASHSEED=0 python -m bench.route_compare dump OUT.jsonl   # with the code under test on sys.path
python -m bench.route_compare compare OLD.jsonl NEW.jsonl

Dump with the same ``PYTHONHASHSEED`` on both sides: ``fuse`` iterates a set of category codes, so the
order of a classification's scores (not their values) follows the string hashes.

To dump an older commit's decisions, export it (``git archive REV | tar -x -C DIR``) and run this file
from outside the checkout with ``PYTHONPATH=DIR`` (the checkout's own directory would come first).

The corpus: the bench's realistic submissions (``bench.payloads``, key enterprises every tenth), every
training text of the shipped model, the TipDM messages and taxonomy rows in ``../shared/data`` when
present, and hand-made texts that take the slow paths (full-width and compatibility characters,
characters outside the BMP, combining marks, Latin codes, digits, Excel's ``_x000D_``, final sigma). Each
is routed with and without the shipped model, at moments across the calendar, some with departments
excluded. A record holds the event's JSON, the classification's scores, rule scores and model
probabilities (``repr`` of a float is exact: equal reprs are equal bits) and the model's label
probabilities for the text.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from producers.publisher import build_submission
from schemas.events import DISTRICT_ZONE, TicketSubmitted
from schemas.settings import Settings
from streams.routing import classify, route_ticket
from tests.chaos.tickets import ticket_body
from ztc.bootstrap import DEFAULT_POLICY, load_checked_policy, model_for

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MOMENTS = (
    datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=DISTRICT_ZONE),
    datetime(2026, 11, 28, 22, 15, tzinfo=DISTRICT_ZONE),
    datetime(2026, 9, 30, 16, 0, tzinfo=DISTRICT_ZONE),
    datetime(2026, 2, 14, 9, 0, tzinfo=DISTRICT_ZONE),
)
EXCLUSIONS: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset(),
    frozenset({"approval"}),
    frozenset({"market", "tax"}),
)
STREETS = ("李村街道", "兴城路街道", None, None, "湘潭路")
PROJECTS = ("康杰药业项目", "粤浦科创", None, None, None, None)
ODD_TEXTS = (
    "ＡＢＣ公司营业执照变更登记，电话１３９１２３４５６７８。",
    "施工许可证\u3000办理\t\t进度？_x000D_请回复_X000D_谢谢",
    "餐饮店 ﬁ 食品经营许可证 ① ㈱ ㍿ 延续申请",
    "e\u0301 Cafe\u0301 的营业执照, A3区 K7县 c4 x 12.5 万元",
    "ΣΑΣ ΟΔΟΣ 外贸进出口 Σ。Σ",
    "𠀀𠀁 特殊字符 🏭 厂房消防验收 😀",
    "İstanbul 外资企业 ǅ ǈ 注册",
    "。标题前没有字。正文在这里，涉及社保和工资",
    "短",
    "a",
    "１２３",
    "食品安全 特种设备 电梯 锅炉 计量 商标 专利 用地 规划许可 不动产登记 立项 外贸 招商 社保",
    "请李村街道协调：道路施工占道，排污，噪音，消防验收，社保补贴，营业执照，多个部门都涉及",
)


def _csv_texts(path: Path, column: str | None) -> list[str]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [row[column] if column else "，".join(v for v in row.values() if v) for row in rows]


def _bodies(tickets: int) -> Iterator[dict[str, Any]]:
    for i in range(tickets):
        yield ticket_body("compare", i, fast_every=10)
    texts = _csv_texts(DEFAULT_POLICY.parent / "default-training.csv", "text")
    texts += _csv_texts(SHARED_DATA / "tipdm2020c_train.csv", "text")
    texts += _csv_texts(SHARED_DATA / "tipdm2020c_taxonomy.csv", None)
    texts += list(ODD_TEXTS) * 4
    for i, text in enumerate(texts):
        yield {
            "channel_message_id": f"compare-text-{i:05d}",
            "text": text,
            "title": text[: 5 + i % 30] if i % 3 else None,
            "street": STREETS[i % len(STREETS)],
            "project_name": PROJECTS[i % len(PROJECTS)],
            "enterprise_name": "康杰药业" if i % 11 == 0 else None,
        }


def cases(tickets: int) -> Iterator[tuple[TicketSubmitted, datetime, frozenset[str]]]:
    for i, body in enumerate(_bodies(tickets)):
        now = MOMENTS[i % len(MOMENTS)]
        yield build_submission({**body, "event_id": f"compare-event-{i}"}, now), now, EXCLUSIONS[i % 4]


def _floats(values: dict[str, float]) -> list[tuple[str, str]]:
    return [(key, repr(value)) for key, value in values.items()]


def dump(out: Path, tickets: int = 6000) -> int:
    policy = load_checked_policy(DEFAULT_POLICY)
    model = model_for(Settings(policy_path=DEFAULT_POLICY), policy)
    assert model is not None
    written = 0
    with out.open("w", encoding="utf-8") as file:
        for submission, now, excluded in cases(tickets):
            for with_model in (model, None):
                routed = route_ticket(submission, policy, now, excluded, None, with_model)
                found = classify(submission, policy, excluded, with_model)
                record = {
                    "event": routed.model_dump_json(),
                    "scores": _floats(found.scores),
                    "rule_scores": _floats(found.rule_scores),
                    "model_probabilities": _floats(found.model_probabilities),
                    "confidence": repr(found.confidence),
                    "hits": [h.model_dump_json() for h in found.hits],
                    "urgent": found.urgent,
                }
                file.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
            labels = model.label_probabilities(f"{submission.title}。{submission.text}")  # ``model_text``
            file.write(json.dumps({"label_probabilities": [repr(p) for p in labels]}) + "\n")
    return written


def compare(old: Path, new: Path) -> int:
    old_lines = old.read_text(encoding="utf-8").splitlines()
    new_lines = new.read_text(encoding="utf-8").splitlines()
    if len(old_lines) != len(new_lines):
        print(f"different sizes: {len(old_lines)} vs {len(new_lines)} records")
        return 1
    differing = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    decisions = sum(1 for line in old_lines if line.startswith('{"event"'))
    print(f"{len(old_lines)} records ({decisions} routing decisions), {len(differing)} differ")
    for i in differing[:5]:
        print(f"record {i}:\n  old {old_lines[i][:300]}\n  new {new_lines[i][:300]}")
    return 1 if differing else 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "dump":
        written = dump(Path(argv[1]), int(argv[2]) if len(argv) > 2 else 6000)
        print(f"{written} decisions written to {argv[1]}")
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        return compare(Path(argv[1]), Path(argv[2]))
    print(__doc__.splitlines()[2:4], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
