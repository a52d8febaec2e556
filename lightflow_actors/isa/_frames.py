"""Wire frames: the envelope every message between a peer and a session travels in.

A frame is a tagged union on ``kind``; every frame carries the protocol version
``v`` and the sender's sequence number ``seq``. ``specs/wire.md`` is the normative
description; names here match it field for field.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from ._instructions import Instruction

__all__ = [
    "PROTOCOL_VERSION",
    "Ack",
    "Close",
    "ErrorCode",
    "ErrorFrame",
    "Frame",
    "Hello",
    "InstructionFrame",
    "Ping",
    "Pong",
    "Welcome",
]

PROTOCOL_VERSION: Final = 1

Version = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Seq = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
SeqOrZero = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]

ErrorCode = Literal[
    "malformed_frame",
    "unsupported_version",
    "frame_too_large",
    "not_negotiated",
    "unexpected_frame",
    "bad_sequence",
    "bad_ack",
    "too_many_errors",
    "heartbeat_timeout",
    "unauthorized",
    "over_budget",
]


class _FrameBase(
    msgspec.Struct,
    frozen=True,
    tag_field="kind",
    forbid_unknown_fields=True,
    omit_defaults=True,
):
    """Fields every frame carries: protocol version and sender sequence number.

    Only these two are positional, so they come first on the wire; every other
    field is keyword-only.
    """

    v: Version
    seq: Seq


class Hello(_FrameBase, frozen=True, kw_only=True, tag="hello"):
    """Client's first frame: the protocol versions it speaks."""

    versions: Annotated[list[Version], msgspec.Meta(min_length=1, max_length=16)]


class Welcome(_FrameBase, frozen=True, kw_only=True, tag="welcome"):
    """Server's answer to Hello: the version both will speak from now on."""

    version: Version


class InstructionFrame(_FrameBase, frozen=True, kw_only=True, tag="instruction"):
    """One instruction of the stream; acknowledged by an ``Ack``."""

    instruction: Instruction


class Ack(_FrameBase, frozen=True, kw_only=True, tag="ack"):
    """Cumulative acknowledgement: every instruction frame with ``seq <= upto`` arrived."""

    upto: SeqOrZero


class Ping(_FrameBase, frozen=True, kw_only=True, tag="ping"):
    """Heartbeat; the peer answers with a Pong."""


class Pong(_FrameBase, frozen=True, kw_only=True, tag="pong"):
    """Heartbeat answer; ``echo`` is the seq of the Ping it answers."""

    echo: Seq


class ErrorFrame(_FrameBase, frozen=True, kw_only=True, tag="error"):
    """A problem with a received frame.

    ``path`` is the msgspec path of the bad field (``$.instruction.topic``), ``ref``
    the seq of the offending frame when it could be read, ``fatal`` whether the
    sender closes the connection right after this frame. ``retry_after`` (seconds) comes
    with ``over_budget``: when the refused input may be sent again.
    """

    code: ErrorCode
    message: Annotated[str, msgspec.Meta(max_length=4096)]
    path: str | None = None
    ref: Seq | None = None
    fatal: bool = False
    retry_after: Annotated[float, msgspec.Meta(ge=0, le=86400)] | None = None


class Close(_FrameBase, frozen=True, kw_only=True, tag="close"):
    """Orderly close: the sender stops after this frame."""

    reason: Annotated[str, msgspec.Meta(max_length=256)] = "normal"


Frame = Hello | Welcome | InstructionFrame | Ack | Ping | Pong | ErrorFrame | Close
