"""Who a web request acts for: the principal an API key stands for, and the scopes keys come in.

A contract, not an adapter: the intake gateway (``producers``) and the
department API and dashboard (``consumers``) decide what a caller may do from a
``Principal``; how a key becomes one (the hashed key file, rotation, the
FastAPI dependency) is ``consumers.access``, injected by ``ztc.web_app``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.feedback import OFFICE


class Scope(StrEnum):
    """What a key is for: a channel submits tickets, a department acts on them."""

    channel = "channel"
    department = "department"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for, once its key matched."""

    name: str
    scope: Scope
    channel: str | None = None
    department: str | None = None

    @property
    def is_office(self) -> bool:
        return self.scope is Scope.department and self.department == OFFICE
