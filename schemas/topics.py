"""Topic names, from one place, with a configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Topics:
    """All topic names of one ZTC installation; ``prefix`` separates installations and tests."""

    prefix: str = ""

    def _name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def submitted(self) -> str:
        return self._name("tickets.submitted")

    @property
    def reroute(self) -> str:
        """Recorder → router: bounced tickets to route again without the bouncing departments."""
        return self._name("tickets.reroute")

    @property
    def routed(self) -> str:
        return self._name("tickets.routed")

    @property
    def feedback(self) -> str:
        return self._name("tickets.feedback")

    @property
    def sla(self) -> str:
        return self._name("tickets.sla")

    @property
    def hotspots(self) -> str:
        """Hot-spot worker → office, alerter, reports: ``HotSpotDetected``, once per hot spot."""
        return self._name("tickets.hotspots")

    @property
    def deadletter(self) -> str:
        return self._name("tickets.deadletter")

    def department(self, code: str) -> str:
        return self._name(f"dept.{code}")

    def all(self, department_codes: tuple[str, ...]) -> tuple[str, ...]:
        """Every topic ZTC uses, for creating them up front."""
        fixed = (
            self.submitted,
            self.reroute,
            self.routed,
            self.feedback,
            self.sla,
            self.hotspots,
            self.deadletter,
        )
        return fixed + tuple(self.department(code) for code in department_codes)


class Consumed(Protocol):
    """What a worker reads of a consumed record (kafka-python's ``ConsumerRecord`` and Faust's
    ``Message`` both have it): the value and where it was read, for its dead letter."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...
