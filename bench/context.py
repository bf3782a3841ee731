"""What every stage gets: the options, the isolated stack, the policy and model, and cached payloads."""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from bench.kafka_io import Record
from bench.payloads import encoded, submissions
from bench.stack import BenchStack
from schemas.events import TicketSubmitted
from schemas.settings import Settings
from streams.classifier import TextClassifier
from ztc.bootstrap import model_for

T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    tickets: int = 10_000
    repeat: int = 3
    latency_seconds: float = 10.0
    rates: tuple[float, ...] = (10.0, 100.0, 1000.0)
    step_seconds: float = 5.0
    drain_seconds: float = 15.0
    monitor_open: tuple[int, ...] = (100_000,)
    monitor_due: tuple[int, ...] = (0, 10, 1000)
    web_tickets: int = 100_000
    quick: bool = False

    @classmethod
    def quick_ones(cls) -> Options:
        return cls(
            tickets=300,
            repeat=1,
            latency_seconds=2.0,
            rates=(10.0, 100.0),
            step_seconds=2.0,
            drain_seconds=5.0,
            monitor_open=(5_000,),
            monitor_due=(0, 10),
            web_tickets=1_000,
            quick=True,
        )


@dataclass
class Context:
    options: Options
    stack: BenchStack
    _records: dict[tuple[str, int], list[Record]] = field(default_factory=dict)
    _cache: dict[Hashable, Any] = field(default_factory=dict)

    @property
    def python(self) -> str:
        return sys.executable

    @cached_property
    def model(self) -> TextClassifier | None:
        return model_for(Settings(policy_path=self.stack.policy_path), self.stack.policy)

    def submissions(self, tag: str, count: int) -> list[TicketSubmitted]:
        return list(submissions(tag, count))

    def records(self, tag: str, count: int) -> list[Record]:
        """``count`` encoded submissions of run ``tag`` (made once per tag and count)."""
        if (tag, count) not in self._records:
            self._records[tag, count] = [encoded(s) for s in submissions(tag, count)]
        return self._records[tag, count]

    def cached(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()`` once per key for the whole run."""
        if key not in self._cache:
            self._cache[key] = make()
        value: T = self._cache[key]
        return value
