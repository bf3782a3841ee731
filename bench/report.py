"""Figures across repetitions, the rows of the table, the goals of issue 11, and the JSON written.

A ``Row`` is one line of the table: what ZTC did, what the bare baseline did
in the same repetitions, their ratio (per repetition, then median and range)
and, where the issue sets one, the goal and whether the median meets it. The
bench never fails on slowness: a goal not met is a ✗ in the table.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One quantity over repetitions (``inf``: it never finished)."""

    values: tuple[float, ...]
    unit: str

    @classmethod
    def of(cls, values: Sequence[float], unit: str) -> Figure:
        return cls(tuple(float(v) for v in values), unit)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def as_json(self) -> dict[str, Any]:
        clean = [v if math.isfinite(v) else None for v in self.values]
        median = self.median
        return {
            "unit": self.unit,
            "median": median if math.isfinite(median) else None,
            "min": min(clean, key=lambda v: math.inf if v is None else v),
            "max": None if None in clean else max(v for v in clean if v is not None),
            "values": clean,
        }

    def text(self) -> str:
        if len(self.values) == 1:
            return f"{number(self.median)} {self.unit}"
        return f"{number(self.median)} [{number(min(self.values))}–{number(max(self.values))}] {self.unit}"


def number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if not math.isfinite(value):
        return "∞"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Goal:
    """The issue's target for a row: ``met(median of the ratio, or of ZTC's figure)``."""

    text: str
    met: Callable[[float], bool]
    on: str = "ratio"
    """"ratio" or "ztc": which median the goal is checked against"""


def at_least(bound: float, on: str = "ratio", text: str | None = None) -> Goal:
    return Goal(text or f"≥ {number(bound)}{'×' if on == 'ratio' else ''}", lambda v: v >= bound, on)


def at_most(bound: float, on: str = "ratio", text: str | None = None) -> Goal:
    return Goal(text or f"≤ {number(bound)}{'×' if on == 'ratio' else ''}", lambda v: v <= bound, on)


@dataclass(frozen=True)
class Row:
    stage: str
    what: str
    ztc: Figure | None = None
    baseline: Figure | None = None
    baseline_what: str = ""
    goal: Goal | None = None
    ratio_values: tuple[float, ...] | None = None
    """override the per-repetition ratio (default: ztc / baseline, repetition by repetition)"""

    @property
    def ratio(self) -> Figure | None:
        if self.ratio_values is not None:
            return Figure(self.ratio_values, "×")
        if self.ztc is None or self.baseline is None:
            return None
        pairs = zip(self.ztc.values, self.baseline.values, strict=False)
        return Figure(tuple(_divide(z, b) for z, b in pairs), "×")

    def goal_met(self) -> bool | None:
        if self.goal is None:
            return None
        figure = self.ratio if self.goal.on == "ratio" else self.ztc
        if figure is None:
            return None
        return math.isfinite(figure.median) and self.goal.met(figure.median)

    def as_json(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "stage": self.stage,
            "what": self.what,
            "ztc": self.ztc.as_json() if self.ztc else None,
            "baseline": self.baseline.as_json() if self.baseline else None,
            "baseline_what": self.baseline_what,
            "ratio": ratio.as_json() if ratio else None,
            "goal": self.goal.text if self.goal else None,
            "goal_met": self.goal_met(),
        }


def _divide(a: float, b: float) -> float:
    if b == 0 or not math.isfinite(b):
        return math.nan
    return a / b


@dataclass
class StageResult:
    name: str
    rows: list[Row] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    """anything else worth keeping (breakdowns, CPU per message, notes)"""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": [r.as_json() for r in self.rows],
            "extra": self.extra,
            "notes": self.notes,
            "seconds": round(self.seconds, 1),
            "error": self.error,
        }


HEADERS = ("stage", "measure", "ZTC median [range]", "bare baseline (same run)", "ratio", "goal", "met")


def table(results: Sequence[StageResult]) -> str:
    lines: list[tuple[str, ...]] = [HEADERS]
    for result in results:
        if result.error:
            lines.append((result.name, f"FAILED: {result.error[:80]}", "", "", "", "", ""))
        for row in result.rows:
            met = row.goal_met()
            ratio = row.ratio
            base = f"{row.baseline_what}: {row.baseline.text()}" if row.baseline else row.baseline_what
            lines.append(
                (
                    row.stage,
                    row.what,
                    row.ztc.text() if row.ztc else "",
                    base,
                    ratio.text() if ratio else "",
                    row.goal.text if row.goal else "",
                    "" if met is None else ("✓" if met else "✗"),
                )
            )
    widths = [max(_width(line[i]) for line in lines) for i in range(len(HEADERS))]
    out = []
    for n, line in enumerate(lines):
        out.append(" | ".join(cell + " " * (w - _width(cell)) for cell, w in zip(line, widths, strict=True)))
        if n == 0:
            out.append("-+-".join("-" * w for w in widths))
    return "\n".join(out)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if "\u2e80" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" else 1 for ch in text)
