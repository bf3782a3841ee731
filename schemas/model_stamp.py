"""The model a routing decision was scored by, as ``TicketRouted`` carries it: version and file hash.

Both are left out of the JSON while unset, so decisions made without a model keep their bytes.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field


def _unset(value: object) -> bool:
    return value is None


ModelVersion = Annotated[
    str | None,
    Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        exclude_if=_unset,
        description="the version of the classifier model that scored this decision; absent without one",
    ),
]
ModelSha256 = Annotated[
    str | None,
    Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        exclude_if=_unset,
        description="the SHA-256 of that model file's bytes",
    ),
]
