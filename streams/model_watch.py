"""A router's eye on the active model: a thread asks Redis, the router swaps between batches.

``ModelWatch.poll`` (on a daemon thread every ``ZTC_MODEL_CHECK_S``) reads the pointer
``ztc classify switch`` sets (``streams.model_registry``). A new model is fetched, checked against
the policy as at start-up (``model_fit_problem``) and handed over; the router's handlers call
``take`` before each batch — an attribute read, nothing more, when nothing changed — so the hot
path never waits for Redis, and a batch is routed by one model from its first ticket to its last.
A model that cannot be used is refused with an error in the log, once per model, and the router
keeps the one it has; Redis being away changes nothing either (a warning, then quiet until it is
back). With the pointer removed (``switch --reset``) the router goes back to the policy's model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from schemas.policy import RoutingPolicy
from streams.classifier import ModelIdentity, ModelLoadError, TextClassifier
from streams.model_registry import ActiveModel, ModelRegistry
from streams.routing import model_fit_problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Swap:
    """The model to route with from the next batch on (None: rules alone)."""

    model: TextClassifier | None


def describe(identity: ModelIdentity | None) -> str:
    return identity.short if identity is not None else "无模型 no model"


class ModelWatch:
    def __init__(
        self,
        registry: ModelRegistry,
        policy: RoutingPolicy,
        baseline: TextClassifier | None,
        current: TextClassifier | None,
    ) -> None:
        """``baseline``: the policy's own model (used without a pointer); ``current``: in use now."""
        self.registry = registry
        self.policy = policy
        self.baseline = baseline
        self._current = current.identity if current is not None else None
        self._refused: str | None = None
        self._unreachable = False
        self._pending: Swap | None = None
        self._lock = threading.Lock()
        self.on_switch: Callable[[ModelIdentity | None], None] | None = None
        """Told each model switched to (e.g. the router's model-info gauge)."""

    def take(self) -> Swap | None:
        """The model switched to since the last call, if any (the router calls it between batches)."""
        if self._pending is None:
            return None
        with self._lock:
            swap, self._pending = self._pending, None
        return swap

    def poll(self) -> None:
        """Ask Redis once; get a switched-to model ready for ``take``. Never raises."""
        try:
            pointer = self.registry.active()
        except ModelLoadError as exc:
            self._refuse("pointer", exc)
            return
        except Exception as exc:  # Redis away: keep routing with what we have
            if not self._unreachable:
                log.warning(
                    "模型检查失败，继续使用 %s / model check failed, keeping it: %r",
                    describe(self._current),
                    exc,
                )
            self._unreachable = True
            return
        if self._unreachable:
            log.info("模型检查恢复 / model check works again")
            self._unreachable = False
        if pointer is None:
            self._offer(self.baseline, "policy")
            return
        if pointer.sha256 in (self._wanted_sha(), self._refused):
            return
        try:
            self._offer(self._checked(pointer), pointer.source)
        except Exception as exc:  # a damaged or unfit model, or Redis gone mid-read: keep ours
            self._refuse(pointer.sha256, exc)

    def _wanted_sha(self) -> str | None:
        return self._current.sha256 if self._current is not None else None

    def _checked(self, pointer: ActiveModel) -> TextClassifier:
        model = self.registry.load(pointer)
        problem = model_fit_problem(model.labels, self.policy)
        if problem is not None:
            raise ModelLoadError(f"{pointer.short}: {problem}")
        return model

    def _offer(self, model: TextClassifier | None, source: str) -> None:
        identity = model.identity if model is not None else None
        if identity == self._current:
            return
        log.info(
            "模型已切换 / model switched: %s -> %s (%s)", describe(self._current), describe(identity), source
        )
        with self._lock:
            self._pending = Swap(model)
            self._current = identity
        if self.on_switch is not None:
            self.on_switch(identity)

    def _refuse(self, what: str, exc: Exception) -> None:
        """Log a refusal once per thing refused (a model's hash, or "pointer")."""
        if what != self._refused:
            log.error(
                "模型切换被拒绝，继续使用 %s / model switch refused, keeping it: %s",
                describe(self._current),
                exc,
            )
        self._refused = what

    def start(self, every_s: float) -> Callable[[], None]:
        """Poll on a daemon thread every ``every_s`` seconds; returns the function that stops it."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(every_s):
                self.poll()

        thread = threading.Thread(target=run, name="model-watch", daemon=True)
        thread.start()
        return stop.set
