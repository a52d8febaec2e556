"""The observer: the supervision tree as a live view (`GET /observer`), an application
built on our own live sessions: its feed, its state, its render, its action desk.
"""

from ._actions import ActionDesk, ActionOutcome, ActionRequest
from ._feed import GetSnapshot, ObservedActor, TreeFeed, TreeSnapshot
from ._page import (
    OBSERVER_NAME,
    ObserverPage,
    observer_page,
    observer_part,
    observer_view,
    start_observer_actors,
)
from ._view import ObserverView

__all__ = [
    "OBSERVER_NAME",
    "ActionDesk",
    "ActionOutcome",
    "ActionRequest",
    "GetSnapshot",
    "ObservedActor",
    "ObserverPage",
    "ObserverView",
    "TreeFeed",
    "TreeSnapshot",
    "observer_page",
    "observer_part",
    "observer_view",
    "start_observer_actors",
]
