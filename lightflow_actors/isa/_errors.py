"""Typed errors of the instruction set, its codecs and its interpreters.

Every message says what was wrong and what to do about it; codec errors carry the
msgspec path of the offending field (``$.instruction.topic``) when there is one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._frames import ErrorCode
    from ._instructions import Op
    from ._lifecycle import Phase

__all__ = [
    "ConnectionStateError",
    "FrameDecodeError",
    "FrameEncodeError",
    "IsaError",
    "LifecycleError",
    "PayloadError",
    "RuntimeFrameError",
    "TraceDecodeError",
    "WireError",
    "validation_path",
]


class IsaError(Exception):
    """Base class of every error raised by ``lightflow_actors.isa``."""


class LifecycleError(IsaError):
    """An instruction arrived in a lifecycle phase that does not accept it.

    ``op`` is the instruction's tag (``"patch"``), ``phase`` the phase it met
    (``"joined"``). The interpreter's phase is unchanged by a rejected instruction. The
    message names no interpreter: the lifecycle is the same for a live session and a
    workflow run, and so is the wording.
    """

    def __init__(self, op: Op, phase: Phase, hint: str) -> None:
        self.op = op
        self.phase = phase
        self.hint = hint
        super().__init__(f"{op.capitalize()} rejected: the session or run is {phase}; {hint}")


class PayloadError(IsaError):
    """A JSON-compatible payload could not be converted to the requested type."""

    def __init__(self, message: str, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class WireError(IsaError):
    """Base class of wire codec errors."""


class FrameDecodeError(WireError):
    """Incoming bytes are not a valid frame.

    ``code`` is the error-frame code a peer should receive (``"malformed_frame"``,
    ``"unsupported_version"``, ``"frame_too_large"``); ``path`` is the msgspec path of
    the bad field, or ``None`` when the bytes were not parseable at all; ``ref`` is
    the frame's ``seq`` when that much could be read.
    """

    def __init__(
        self, code: ErrorCode, message: str, path: str | None = None, ref: int | None = None
    ) -> None:
        self.code = code
        self.path = path
        self.ref = ref
        self.detail = message
        super().__init__(f"{code}: {message}")


class ConnectionStateError(WireError):
    """The connection cannot do that now (send before negotiation, or after close)."""


class FrameEncodeError(WireError):
    """A frame could not be encoded (a value outside the JSON-compatible set)."""


class TraceDecodeError(IsaError):
    """A line of a JSONL trace is not a valid trace record."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(f"trace line {line}: {message}")


class RuntimeFrameError(IsaError):
    """Bytes are not a valid ``lightflow.runtime.RuntimeFrame`` (or stream of them)."""


def validation_path(message: str) -> str:
    """The msgspec path (``$.seq``) a validation message points at; ``$`` if none.

    msgspec ends its messages with "- at `$.a.b`" when the problem is below the root.
    """
    marker = " - at `"
    start = message.rfind(marker)
    if start < 0 or not message.endswith("`"):
        return "$"
    return message[start + len(marker) : -1]
