"""The six instructions: Mount, Render, Patch, Subscribe, Submit, Shutdown.

One tagged union (tag field ``op``) read by every interpreter: the actor
interpreter executes it, the pure interpreter turns it into effects, the tracer
writes it as JSONL and the wire codec ships it. ``specs/isa.md`` gives each
instruction's meaning for a live session and for a workflow run.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeVar

import msgspec

from ._json import JSONValue, from_json_value, to_json_value

__all__ = [
    "OPS",
    "Instruction",
    "Mount",
    "Op",
    "Patch",
    "Render",
    "Shutdown",
    "ShutdownReason",
    "Submit",
    "Subscribe",
    "op_of",
]

T = TypeVar("T")

# A session or run id: one path segment (the run directory is named after it).
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"^(?!\.{1,2}$)[^/\x00]+$")]
# A component, workflow, event or step name; a pubsub topic.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Topic = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]

Op = Literal["mount", "render", "patch", "subscribe", "submit", "shutdown"]
OPS: Final[tuple[Op, ...]] = ("mount", "render", "patch", "subscribe", "submit", "shutdown")

ShutdownReason = Literal["normal", "shutdown", "cancelled", "timeout", "error"]


class _InstructionBase(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="op",
    forbid_unknown_fields=True,
    omit_defaults=True,
):
    """Shared struct options: frozen, keyword-only, tagged by ``op``, strict fields."""


class Mount(_InstructionBase, frozen=True, tag="mount"):
    """Start the session's component or the run's workflow.

    ``id`` is the session or run id (one path segment), ``target`` the component or
    workflow name, ``params`` the mount params (session) or workflow inputs (run).
    """

    id: Id
    target: Name
    params: dict[str, JSONValue] = {}


class Render(_InstructionBase, frozen=True, tag="render"):
    """Produce the current full view: the HTML tree of a session, a run's snapshot.

    Sent to an interpreter, ``view`` is null: render now. Sent to a watcher (by the
    wire encoder), ``view`` carries the rendered payload.
    """

    view: JSONValue = None


class Patch(_InstructionBase, frozen=True, tag="patch"):
    """A delta for whoever watches: a DOM diff of a session or a run-state delta.

    ``diff`` is any JSON value. A typed diff (e.g. a live-view statics/dynamics
    struct) travels as its JSON form: build with ``Patch.of(diff)``, read back with
    ``patch.diff_as(DiffType)``.
    """

    diff: JSONValue

    @classmethod
    def of(cls, diff: object) -> Patch:
        """A Patch carrying ``diff`` (a msgspec struct or builtin) in its JSON form."""
        return cls(diff=to_json_value(diff))

    def diff_as(self, into: type[T]) -> T:
        """The diff converted to ``into``; raises ``PayloadError`` naming the bad path."""
        return from_json_value(self.diff, into)


class Subscribe(_InstructionBase, frozen=True, tag="subscribe"):
    """Join (``off=False``) or leave (``off=True``) a pubsub topic or event stream."""

    topic: Topic
    off: bool = False


class Submit(_InstructionBase, frozen=True, tag="submit"):
    """Input arrives: a decoded browser event, or a step request for a run.

    ``event`` is the event name (session) or the step id (run); ``payload`` its
    value; ``ref`` names the reply the submitter waits for, if any; ``target`` names
    the part of the session the event is for (a live component's cid), None: the view.
    """

    event: Name
    payload: JSONValue = None
    ref: Name | None = None
    target: Name | None = None


class Shutdown(_InstructionBase, frozen=True, tag="shutdown"):
    """Stop the session or run; ``reason`` is one of a closed set, ``detail`` free text."""

    reason: ShutdownReason = "normal"
    detail: str = ""


Instruction = Mount | Render | Patch | Subscribe | Submit | Shutdown


def op_of(instruction: Instruction) -> Op:
    """The instruction's tag: ``op_of(Mount(...)) == "mount"``."""
    return _OP_BY_TYPE[type(instruction)]


_OP_BY_TYPE: Final[dict[type[Instruction], Op]] = {
    Mount: "mount",
    Render: "render",
    Patch: "patch",
    Subscribe: "subscribe",
    Submit: "submit",
    Shutdown: "shutdown",
}
