"""What a scenario measured, which of its figures must be zero, and the one table they all print in."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MUST_BE_ZERO = {
    "baseline": ("lost", "doubled", "alerts_lost", "alerts_doubled"),
    "kill": ("lost", "doubled", "alerts_lost", "alerts_doubled"),
    "restart": ("rerouted", "lost", "doubled", "alerts_lost", "alerts_doubled"),
    "malformed": ("worker_restarts", "not_dead_lettered", "without_reason"),
    "fuzz": ("server_errors",),
}


@dataclass
class Result:
    """One scenario's counters; ``None`` where the figure does not apply to the scenario."""

    scenario: str
    kind: str
    submitted: int | None = None
    acknowledged: int | None = None
    recorded: int | None = None
    lost: int | None = None
    doubled: int | None = None
    rerouted: int | None = None
    alerts_expected: int | None = None
    alerts_sent: int | None = None
    alerts_lost: int | None = None
    alerts_doubled: int | None = None
    worker_restarts: int | None = None
    malformed_sent: int | None = None
    not_dead_lettered: int | None = None
    without_reason: int | None = None
    server_errors: int | None = None
    requests: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    """the scenario could not be carried out (the system did not start, the kill found nothing, ...)"""

    @property
    def dead_lettered_pct(self) -> float | None:
        if self.malformed_sent is None or self.not_dead_lettered is None:
            return None
        if self.malformed_sent == 0:
            return 0.0
        return 100.0 * (self.malformed_sent - self.not_dead_lettered) / self.malformed_sent

    def failures(self) -> list[str]:
        """The must-be-zero figures that are not zero (or not measured), and a harness error."""
        out = [f"error: {self.error}"] if self.error else []
        for name in MUST_BE_ZERO[self.kind]:
            value = getattr(self, name)
            if value is None:
                out.append(f"{name} not measured")
            elif value != 0:
                out.append(f"{name} = {value}")
        return out

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "dead_lettered_pct": self.dead_lettered_pct, "failures": self.failures()}


COLUMNS = (
    ("scenario", "scenario"),
    ("submitted", "submitted"),
    ("acknowledged", "acked"),
    ("recorded", "recorded"),
    ("lost", "lost"),
    ("doubled", "doubled"),
    ("rerouted", "re-routed"),
    ("alerts_expected", "alerts exp"),
    ("alerts_sent", "sent"),
    ("alerts_lost", "lost"),
    ("alerts_doubled", "doubled"),
    ("worker_restarts", "restarts"),
    ("dead_lettered_pct", "dead-lettered"),
    ("server_errors", "5xx"),
    ("seconds", "time"),
)


def _cell(result: Result, name: str) -> str:
    value = getattr(result, name)
    if value is None:
        return "–"
    if name == "dead_lettered_pct":
        return f"{value:.2f} %"
    if name == "seconds":
        return f"{value:.0f}s"
    return str(value)


def table(results: list[Result]) -> str:
    """One text table, a verdict per row, then every scenario's notes and failures."""
    header = [title for _, title in COLUMNS] + ["verdict"]
    rows = [[_cell(r, name) for name, _ in COLUMNS] + ["ok" if not r.failures() else "FAIL"] for r in results]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    out = [line(header), "  ".join("-" * w for w in widths), *[line(row) for row in rows]]
    for result in results:
        failures = result.failures()
        if failures or result.notes:
            out.append("")
            out.append(f"{result.scenario}: " + ("; ".join(failures) if failures else "ok"))
            out += [f"  - {note}" for note in result.notes]
    return "\n".join(out)
