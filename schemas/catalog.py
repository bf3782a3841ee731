"""The event catalogue: every event type, found from the ``Event`` class tree, and what each topic carries.

``event_types()`` walks the subclasses of ``schemas.events.Event`` after
importing every module of ``schemas``, so a new event class is in the catalogue
(and in ``ztc schema export``) without being listed anywhere. A concrete event
is one that names its own ``event_type``; the shared bases (``Event``,
``DepartmentAction``, ``SlaEvent``) do not.

``topic_events()`` is the wire map: for every topic of an installation, the
event types that travel on it. A unit test checks that it covers
``Topics.all()`` and every event type.
"""

from __future__ import annotations

import importlib
import pkgutil

import schemas
from schemas.events import DeadLettered, Event, RerouteRequested, TicketRouted, TicketSubmitted
from schemas.feedback import FEEDBACK_EVENT_TYPES, JointMeetingConvened, TicketDispatched
from schemas.hotspot_events import HotSpotDetected
from schemas.sla import SLA_EVENT_TYPES
from schemas.topics import Topics


def _subclasses(cls: type[Event]) -> list[type[Event]]:
    found: list[type[Event]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def event_types() -> tuple[type[Event], ...]:
    """Every concrete event class of ``schemas``, in definition order (subclasses elsewhere ignored)."""
    for module in pkgutil.iter_modules(schemas.__path__):
        importlib.import_module(f"{schemas.__name__}.{module.name}")
    concrete = [
        cls
        for cls in _subclasses(Event)
        if "event_type" in vars(cls) and cls.__module__.startswith(f"{schemas.__name__}.")
    ]
    return tuple(dict.fromkeys(concrete))  # a class reached through two bases is listed once


def topic_events(topics: Topics, department_codes: tuple[str, ...]) -> dict[str, tuple[type[Event], ...]]:
    """Each topic of the installation and the event types written to it, in ``Topics.all()`` order."""
    department = (TicketRouted, TicketDispatched, JointMeetingConvened)
    carried: dict[str, tuple[type[Event], ...]] = {
        topics.submitted: (TicketSubmitted,),
        topics.reroute: (RerouteRequested,),
        topics.routed: (TicketRouted,),
        topics.feedback: FEEDBACK_EVENT_TYPES,
        topics.sla: SLA_EVENT_TYPES,
        topics.hotspots: (HotSpotDetected,),
        topics.deadletter: (DeadLettered,),
        **{topics.department(code): department for code in department_codes},
    }
    return {name: carried[name] for name in topics.all(department_codes)}
