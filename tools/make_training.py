"""Regenerate deploy/policy/default-training.csv (and, with ``--train``, default-model.json).

The default policy's training rows are hand-written enterprise requests in the
style of the Licang business-environment article. The sentences are data, in
``tools/training/``: ``templates.toml`` (the original rows), ``descriptions.toml``
(the policy's category descriptions, two rows per category) and
``additions.toml`` (written later for the weakest categories, plus vague
"unclear" requests), in that order. The ``{co}`` / ``{st}`` / ``{pj}`` slots are
filled at random, with each file's fixed seed, from the company, street and
project names in ``names.toml``. Output is deterministic: a unit test holds the
shipped CSV equal, byte for byte, to what this writes.

    .venv/bin/python tools/make_training.py           # write the CSV only
    .venv/bin/python tools/make_training.py --train   # ... then `ztc classify train` on it (ztc[train])

This is build tooling, not part of the installed ``ztc`` package.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "training"
CSV_PATH = ROOT / "deploy" / "policy" / "default-training.csv"
MODEL_PATH = ROOT / "deploy" / "policy" / "default-model.json"
UNCLEAR = "unclear"
"""The label of vague requests: it maps to no category, so such a request goes to the office."""

Row = tuple[str, str]
"""(text, label), as in the CSV."""


@dataclass(frozen=True)
class Names:
    streets: tuple[str, ...]
    companies: tuple[str, ...]
    projects: tuple[str, ...]


@dataclass(frozen=True)
class Templates:
    """Blocks of one-line sentence templates, each with its label, filled with one seeded generator."""

    seed: int
    blocks: tuple[tuple[str, str], ...]
    """(label, lines) in file order."""


def _read(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def load_names(data: Path = DATA) -> Names:
    raw = _read(data / "names.toml")
    return Names(tuple(raw["streets"]), tuple(raw["companies"]), tuple(raw["projects"]))


def load_templates(path: Path) -> Templates:
    raw = _read(path)
    return Templates(int(raw["seed"]), tuple((b["label"], b["lines"]) for b in raw["blocks"]))


def load_descriptions(data: Path = DATA) -> list[Row]:
    raw: dict[str, list[str]] = _read(data / "descriptions.toml")["descriptions"]
    return [(text, label) for label, texts in raw.items() for text in texts]


def fill(templates: Templates, names: Names) -> list[Row]:
    """One row per template line, slots filled from the name lists."""
    rng = random.Random(templates.seed)
    rows = []
    for label, block in templates.blocks:
        for line in block.strip().splitlines():
            line = line.strip()
            if not line:
                continue
            street = rng.choice(names.streets)
            if "{st}街道" not in line:
                street = street + "街道" if rng.random() < 0.6 else street
            text = line.format(co=rng.choice(names.companies), st=street, pj=rng.choice(names.projects))
            rows.append((text, label))
    return rows


def build(data: Path = DATA) -> list[Row]:
    """Every row, in the shipped order; ValueError on a repeated row or one of the wrong length."""
    names = load_names(data)
    rows = fill(load_templates(data / "templates.toml"), names)
    rows += load_descriptions(data)
    rows += fill(load_templates(data / "additions.toml"), names)
    seen: set[str] = set()
    for text, label in rows:
        if text in seen:
            raise ValueError(f"duplicate row: {text}")
        seen.add(text)
        shortest = 4 if label == UNCLEAR else 12
        if not shortest <= len(text) <= 150:
            raise ValueError(f"row length {len(text)} outside {shortest}-150: {text}")
    return rows


def near_duplicates(rows: Sequence[Row], limit: float = 0.6) -> list[tuple[float, str, str]]:
    """Pairs of rows whose character-bigram Jaccard similarity is at least ``limit``."""
    grams = [{text[i : i + 2] for i in range(len(text) - 1)} for text, _ in rows]
    found = []
    for i in range(len(rows)):
        for j in range(i):
            union = len(grams[i] | grams[j])
            score = len(grams[i] & grams[j]) / union if union else 0.0
            if score >= limit:
                found.append((score, rows[i][0], rows[j][0]))
    return sorted(found, reverse=True)


def csv_bytes(rows: Sequence[Row]) -> bytes:
    """The CSV file's bytes: a ``text,label`` header, then the rows (UTF-8, CRLF as the csv module writes)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the sentence TOML files")
    parser.add_argument("--out", type=Path, default=CSV_PATH)
    parser.add_argument(
        "--train", action="store_true", help=f"then run `ztc classify train` -> {MODEL_PATH.name}"
    )
    parser.add_argument("--model", type=Path, default=MODEL_PATH, help="where --train writes the model")
    args = parser.parse_args(argv)
    try:
        rows = build(args.data)
    except (ValueError, KeyError, OSError, tomllib.TOMLDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    close = near_duplicates(rows)
    if close:
        for score, a, b in close:
            print(f"near-duplicate ({score:.2f}): {a} | {b}", file=sys.stderr)
        return 1
    args.out.write_bytes(csv_bytes(rows))
    counts = Counter(label for _, label in rows)
    low, high = min(counts.values()), max(counts.values())
    print(f"{args.out}: {len(rows)} rows, {len(counts)} labels, {low}-{high} per label")
    if args.train:
        train = ["classify", "train", "--data", str(args.out), "--out", str(args.model)]
        return subprocess.run([sys.executable, "-m", "ztc", *train], cwd=ROOT, check=False).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
