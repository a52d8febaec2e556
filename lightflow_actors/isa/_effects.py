"""Effects: what interpreting an instruction asks the outside world to do.

Programs return effects as data instead of performing them, so the pure
interpreter can be compared with the actor interpreter effect for effect, and the
host (a session actor, a run actor, a test) decides how to carry each one out.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from ._instructions import Op, ShutdownReason
from ._json import JSONValue
from ._lifecycle import Phase

__all__ = [
    "Effect",
    "Patched",
    "Published",
    "Rejected",
    "Rendered",
    "Replied",
    "Stopped",
    "Subscribed",
    "Unsubscribed",
]

Topic = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class _EffectBase(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="effect",
    forbid_unknown_fields=True,
    omit_defaults=True,
):
    """Shared struct options: frozen, keyword-only, tagged by ``effect``."""


class Rendered(_EffectBase, frozen=True, tag="rendered"):
    """Send the full view (HTML tree or run snapshot) to the watchers."""

    view: JSONValue


class Patched(_EffectBase, frozen=True, tag="patched"):
    """Send a delta to the watchers."""

    diff: JSONValue


class Subscribed(_EffectBase, frozen=True, tag="subscribed"):
    """Join ``topic`` in the pubsub registry."""

    topic: Topic


class Unsubscribed(_EffectBase, frozen=True, tag="unsubscribed"):
    """Leave ``topic`` in the pubsub registry."""

    topic: Topic


class Published(_EffectBase, frozen=True, tag="published"):
    """Broadcast ``message`` to every subscriber of ``topic``."""

    topic: Topic
    message: JSONValue


class Replied(_EffectBase, frozen=True, tag="replied"):
    """Answer the submitter that waits on ``ref``."""

    ref: str
    payload: JSONValue = None


class Stopped(_EffectBase, frozen=True, tag="stopped"):
    """The session or run is closed; the host stops it. Emitted by the interpreter
    after the program's own Shutdown effects."""

    reason: ShutdownReason
    detail: str = ""


class Rejected(_EffectBase, frozen=True, tag="rejected"):
    """An instruction was refused in ``phase``; ``message`` says why and what to do."""

    op: Op
    phase: Phase
    message: str


Effect = Rendered | Patched | Subscribed | Unsubscribed | Published | Replied | Stopped | Rejected
