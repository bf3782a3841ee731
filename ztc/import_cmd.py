"""``ztc import FILE``: tickets from a JSONL, CSV or .xlsx file (``producers.file_intake`` reads it)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from producers.file_intake import (
    ImportedFile,
    ImportFileError,
    ImportRow,
    read_import_file,
    submission_fields,
)
from producers.publisher import build_submission
from schemas.events import TicketSubmitted, now_in_district
from schemas.privacy import mask_personal
from schemas.validation_text import problems_in_one_line
from ztc.commands import CliError, intake_publisher

CHUNK = 200


@dataclass
class ImportPlan:
    """What a file holds: the submissions to publish and one line per row that cannot be."""

    submissions: list[TicketSubmitted] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)


def bad_row_line(number: int, problem: str) -> str:
    """``第 3 行 row 3: 诉求内容 text: 不能为空 must not be empty``: one line per bad row."""
    return f"第 {number} 行 row {number}: {mask_personal(problem)}"


def plan_rows(rows: list[ImportRow], default_channel: str, now: datetime) -> ImportPlan:
    """Each row validated as a submission; pure (``now`` given), nothing is published."""
    plan = ImportPlan()
    for row in rows:
        if row.problem is not None:
            plan.bad.append(bad_row_line(row.number, row.problem))
            continue
        try:
            plan.submissions.append(build_submission(submission_fields(row, default_channel), now))
        except ValidationError as exc:
            plan.bad.append(bad_row_line(row.number, problems_in_one_line(_without_derived(exc))))
        except ValueError as exc:
            plan.bad.append(bad_row_line(row.number, " ".join(str(exc).split())[:300]))
    return plan


def _without_derived(exc: ValidationError) -> list[Any]:
    """The errors to show: a missing title is derived from the text, so it is news only with a text."""
    errors = list(exc.errors())
    if any(e["loc"] == ("text",) for e in errors):
        errors = [e for e in errors if not (e["loc"] == ("title",) and e["type"] == "missing")]
    return errors


def summary_line(published: int, duplicates: int, bad: int) -> str:
    return (
        f"已发布 published {published}，重复 duplicates {duplicates}（已有记录，未再发布 already recorded, "
        f"not published again），错误行 bad rows {bad}"
    )


def import_file(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # the progress bar only where it is drawn

    try:
        source: ImportedFile = read_import_file(args.file)
    except ImportFileError as exc:
        raise CliError(f"{args.file}: {exc}") from None
    encoding = f", {source.encoding}" if source.encoding else ""
    print(f"读取 read {args.file} ({source.kind}{encoding}): {len(source.rows)} 行 rows", file=sys.stderr)
    if source.ignored_columns:
        print(f"忽略未知列 ignored columns: {', '.join(source.ignored_columns)}", file=sys.stderr)
    plan = plan_rows(source.rows, args.channel, now_in_district())
    publisher = intake_publisher(args.settings)
    new = 0
    try:
        with tqdm(total=len(plan.submissions), desc="导入 import", unit="ticket", file=sys.stderr) as bar:
            for start in range(0, len(plan.submissions), CHUNK):
                chunk = plan.submissions[start : start + CHUNK]
                new += sum(a.new for a in publisher.publish_many(chunk))
                bar.update(len(chunk))
    finally:
        publisher.close()
    for line in plan.bad:
        print(f"跳过 skipped {line}", file=sys.stderr)
    print(summary_line(new, len(plan.submissions) - new, len(plan.bad)))
    return 1 if plan.bad else 0


def add_import_parser(sub: Any) -> None:
    from producers.file_intake import accepted_columns

    help_text = "批量导入 import tickets from .xlsx, CSV (UTF-8 or GBK) or JSONL"
    imp = sub.add_parser(
        "import",
        help=help_text,
        description=f"{help_text}. 表头第 1 行 row 1 is the header; 列 columns: {accepted_columns()}",
    )
    imp.add_argument("file", type=Path)
    imp.add_argument("--channel", default="cli", help="默认渠道 default channel for rows without one")
    imp.set_defaults(func=import_file)
