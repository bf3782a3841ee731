"""Assemble a pydantic model from values already known to be valid, cheaply.

``BaseModel.model_construct`` skips validation but still resolves aliases and defaults field by
field (about 10 µs for a 20-field event, the largest single cost of ``route_ticket`` after the
model). ``construct_trusted`` does the same work with what it can know once per class: the fields
in order, which have plain defaults. It is for models without aliases, default factories the
caller omits, extra fields, private attributes or post-init hooks; ``plan_for`` refuses the others.
"""

from __future__ import annotations

from enum import Enum
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ModelT = TypeVar("ModelT", bound=BaseModel)

_IMMUTABLE = (type(None), bool, int, float, str, bytes, tuple, frozenset, Enum)
"""Plain defaults that can be shared between instances (pydantic copies the others)."""

_REQUIRED = object()
"""Marks a field the caller must give (required, or defaulted by a factory)."""


@cache
def plan_for(cls: type[BaseModel]) -> tuple[tuple[str, Any], ...]:
    """(field name, its plain default or ``_REQUIRED``) in declaration order; ValueError if unsupported."""
    if cls.__pydantic_post_init__ or cls.__private_attributes__ or cls.model_config.get("extra") == "allow":
        raise ValueError(f"{cls.__name__}: construct_trusted does not handle post-init, private or extra")
    plan: list[tuple[str, Any]] = []
    for name, field in cls.model_fields.items():
        if field.alias not in (None, name) or field.validation_alias not in (None, name):
            raise ValueError(f"{cls.__name__}.{name}: construct_trusted does not resolve aliases")
        plain = not field.is_required() and field.default_factory is None
        if plain and not isinstance(field.default, _IMMUTABLE):
            raise ValueError(f"{cls.__name__}.{name}: a mutable default would be shared")
        plan.append((name, field.default if plain and field.default is not PydanticUndefined else _REQUIRED))
    return tuple(plan)


@cache
def _template(cls: type[BaseModel]) -> tuple[dict[str, Any], frozenset[str], frozenset[str]]:
    """Every field in order with its plain default (``_REQUIRED`` if none), the names, the required names."""
    plan = plan_for(cls)
    names = frozenset(name for name, _ in plan)
    return dict(plan), names, frozenset(name for name, default in plan if default is _REQUIRED)


def construct_trusted(cls: type[ModelT], **values: Any) -> ModelT:
    """What ``cls.model_construct(**values)`` returns, for values that are valid for ``cls``.

    Every field without a plain default must be given (a KeyError names the one missing); a value
    for a name that is not a field is refused. The fields are filled by updating a copy of the
    class's defaults (an update keeps each field's place, so ``__dict__`` is in declaration order).
    """
    template, names, required = _template(cls)
    given = values.keys()
    if not given <= names:
        raise ValueError(f"{cls.__name__}: not fields: {sorted(given - names)}")
    if not required <= given:
        missing = next(name for name in template if name in required and name not in given)
        raise KeyError(f"{cls.__name__}.{missing} must be given")
    fields = template.copy()
    fields.update(values)
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", fields)
    object.__setattr__(model, "__pydantic_fields_set__", set(given))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model
