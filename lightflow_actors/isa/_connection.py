"""``Connection``: the wire protocol's state machine, free of I/O and clocks.

A transport feeds it each incoming frame's bytes (with the current time) and gets
back an ``Outcome``: instructions to deliver, frames to send, and whether to
close. The same object serves a WebSocket, a test, or the deterministic
scheduler. ``specs/wire.md`` is the normative description of these rules.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final, Literal

import msgspec

from ._codec import WireCodec, version_set
from ._errors import ConnectionStateError, FrameDecodeError
from ._frames import (
    PROTOCOL_VERSION,
    Ack,
    Close,
    ErrorCode,
    ErrorFrame,
    Frame,
    Hello,
    InstructionFrame,
    Ping,
    Pong,
    Welcome,
)
from ._instructions import Instruction

__all__ = ["CloseCode", "CloseDecision", "Connection", "ConnectionState", "Outcome", "Role"]

Role = Literal["server", "client"]
ConnectionState = Literal["negotiating", "open", "closed"]
CloseCode = ErrorCode | Literal["normal", "peer_closed", "peer_error"]

# Errors after which the stream cannot be trusted: the sender closes right away.
# malformed_frame and unexpected_frame are survivable once negotiated (bounded by
# max_errors); before negotiation every error is fatal.
_FATAL: Final[frozenset[str]] = frozenset(
    {
        "unsupported_version",
        "frame_too_large",
        "not_negotiated",
        "bad_sequence",
        "bad_ack",
        "too_many_errors",
        "heartbeat_timeout",
    }
)
# Refusals of a valid frame for a budget (the sender did nothing wrong on the wire, it
# sent too much): they do not count toward max_errors, so a burst is refused, not closed.
_UNCOUNTED: Final[frozenset[str]] = frozenset({"over_budget"})
_MAX_MESSAGE: Final = 4096


class CloseDecision(msgspec.Struct, frozen=True):
    """Close the transport after sending the outcome's frames."""

    code: CloseCode
    message: str


class Outcome(msgspec.Struct, frozen=True):
    """What a transport does after ``receive`` or ``tick``, in this order:
    deliver ``instructions``, send ``outgoing``, then close if ``close`` is set.
    ``peer_errors`` are the non-fatal error frames the peer sent (for logging)."""

    instructions: tuple[Instruction, ...] = ()
    outgoing: tuple[bytes, ...] = ()
    peer_errors: tuple[ErrorFrame, ...] = ()
    close: CloseDecision | None = None


class Connection:
    """One peer's side of a wire connection.

    >>> from lightflow_actors.isa import JsonCodec, Render
    >>> client = Connection("client", JsonCodec(), now=0.0)
    >>> server = Connection("server", JsonCodec(), now=0.0)
    >>> welcome = server.receive(client.hello(now=0.0), now=0.1).outgoing[0]
    >>> client.receive(welcome, now=0.2).close is None, client.state
    (True, 'open')
    >>> server.receive(client.send(Render(), now=0.3), now=0.4).instructions
    (Render(view=None),)
    """

    # One per open connection (a live tab): slots, not an attribute dict (ADR 0114).
    __slots__ = (
        "_acked_in",
        "_hello_sent",
        "_last_in_at",
        "_last_instruction_in",
        "_last_out_at",
        "_seq_in",
        "_seq_out",
        "_unacked",
        "auto_ack",
        "codec",
        "errors",
        "heartbeat_interval",
        "heartbeat_timeout",
        "max_errors",
        "role",
        "state",
        "version",
        "versions",
    )

    def __init__(
        self,
        role: Role,
        codec: WireCodec,
        *,
        now: float,
        versions: Collection[int] = (PROTOCOL_VERSION,),
        max_errors: int = 16,
        heartbeat_interval: float = 15.0,
        heartbeat_timeout: float = 45.0,
        auto_ack: bool = True,
    ) -> None:
        if not versions:
            raise ValueError("versions must name at least one protocol version")
        self.role: Role = role
        self.codec = codec
        self.versions = version_set(versions)
        self.max_errors = max_errors
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.state: ConnectionState = "negotiating"
        self.version: int | None = None
        self.errors = 0
        self._hello_sent = False
        self._seq_out = 0
        self._seq_in = 0
        self._last_in_at = now
        self._last_out_at = now
        self._unacked: dict[int, InstructionFrame] = {}
        # auto_ack=False: instruction frames are acknowledged only by `ack()` (one
        # cumulative ack for all received so far), so a host can send fewer acks.
        self.auto_ack = auto_ack
        self._acked_in = 0
        self._last_instruction_in = 0

    # -- sending ------------------------------------------------------------

    def hello(self, *, now: float) -> bytes:
        """The client's first frame, offering ``versions``."""
        if self.role != "client" or self._hello_sent or self.state != "negotiating":
            raise ConnectionStateError("only a client sends Hello, once, before negotiation")
        self._hello_sent = True
        versions = sorted(self.versions, reverse=True)
        return self._emit(Hello(versions[0], self._next_seq(), versions=versions), now)

    def send(self, instruction: Instruction, *, now: float) -> bytes:
        """Frame ``instruction`` for the peer; it stays unacked until the peer's Ack."""
        if self.state != "open" or self.version is None:
            raise ConnectionStateError(
                f"cannot send an instruction while the connection is {self.state}; "
                "wait for negotiation to finish, or open a new connection"
            )
        frame = InstructionFrame(self.version, self._next_seq(), instruction=instruction)
        self._unacked[frame.seq] = frame
        return self._emit(frame, now)

    def close(self, reason: str = "normal", *, now: float) -> bytes:
        """An orderly Close frame; the connection accepts nothing afterwards."""
        if self.state == "closed":
            raise ConnectionStateError("the connection is already closed")
        frame = Close(self._out_version(), self._next_seq(), reason=reason[:256])
        self.state = "closed"
        return self._emit(frame, now)

    def ack(self, *, now: float) -> bytes | None:
        """One cumulative ``ack`` for every instruction frame received and not yet
        acknowledged, or None when there is none (for ``auto_ack=False`` hosts)."""
        if self.state != "open" or self._acked_in >= self._last_instruction_in:
            return None
        self._acked_in = self._last_instruction_in
        return self._emit(Ack(self._out_version(), self._next_seq(), upto=self._acked_in), now)

    @property
    def owes_ack(self) -> bool:
        """True when an instruction frame arrived that no ``ack`` covers yet."""
        return self._acked_in < self._last_instruction_in

    def unacked(self) -> tuple[InstructionFrame, ...]:
        """Instruction frames sent but not yet acknowledged, oldest first."""
        return tuple(self._unacked.values())

    def error(
        self,
        code: ErrorCode,
        message: str,
        path: str | None,
        ref: int | None,
        *,
        now: float,
        retry_after: float | None = None,
    ) -> Outcome:
        """An error frame for a problem the host found above the frame level (an
        instruction its session refuses). It is numbered like every frame and counts
        toward ``max_errors``, so a peer cannot dodge the budget by erring one level up;
        a fatal ``code`` (or too many errors) closes, as for a bad frame. ``over_budget``
        (with ``retry_after`` seconds) is the exception: it does not count."""
        return self._error(code, message, path, ref, now, retry_after)

    @property
    def last_seq_in(self) -> int:
        """The sequence number of the last frame received (0 before the first)."""
        return self._seq_in

    @property
    def last_seq_out(self) -> int:
        """The sequence number of the last frame emitted (0 before the first)."""
        return self._seq_out

    # -- receiving ----------------------------------------------------------

    def receive(self, data: bytes, *, now: float) -> Outcome:
        """Handle one incoming frame's bytes."""
        if self.state == "closed":
            return Outcome()
        self._last_in_at = now
        try:
            frame = self.codec.decode(data)
        except FrameDecodeError as exc:
            return self._error(exc.code, exc.detail, exc.path, exc.ref, now)
        if frame.seq <= self._seq_in:
            return self._error(
                "bad_sequence",
                f"seq {frame.seq} does not increase on {self._seq_in}; number frames 1, 2, 3, ...",
                "$.seq",
                frame.seq,
                now,
            )
        self._seq_in = frame.seq
        if self.state == "negotiating":
            return self._negotiate(frame, now)
        if frame.v != self.version:
            return self._error(
                "unsupported_version",
                f"frame speaks version {frame.v} but version {self.version} was negotiated",
                "$.v",
                frame.seq,
                now,
            )
        return self._dispatch(frame, now)

    def tick(self, *, now: float) -> Outcome:
        """Enforce the heartbeat: a Ping when idle, a close when the peer went silent."""
        if self.state == "closed":
            return Outcome()
        silent = now - self._last_in_at
        if silent >= self.heartbeat_timeout:
            return self._error(
                "heartbeat_timeout",
                f"nothing received for {silent:.1f}s (limit {self.heartbeat_timeout:.1f}s)",
                None,
                None,
                now,
            )
        if self.state == "open" and now - self._last_out_at >= self.heartbeat_interval:
            return Outcome(outgoing=(self._emit(Ping(self._out_version(), self._next_seq()), now),))
        return Outcome()

    # -- internals ----------------------------------------------------------

    def _negotiate(self, frame: Frame, now: float) -> Outcome:
        if self.role == "server" and isinstance(frame, Hello):
            common = self.versions.intersection(frame.versions)
            if not common:
                return self._error(
                    "unsupported_version",
                    f"no common protocol version: peer offers {sorted(frame.versions)}, "
                    f"this server speaks {sorted(self.versions)}",
                    "$.versions",
                    frame.seq,
                    now,
                )
            self.version = max(common)
            self.state = "open"
            welcome = Welcome(self.version, self._next_seq(), version=self.version)
            return Outcome(outgoing=(self._emit(welcome, now),))
        if self.role == "client" and isinstance(frame, Welcome) and self._hello_sent:
            if frame.version not in self.versions:
                return self._error(
                    "unsupported_version",
                    f"server chose version {frame.version}, which this client never offered",
                    "$.version",
                    frame.seq,
                    now,
                )
            self.version = frame.version
            self.state = "open"
            return Outcome()
        if isinstance(frame, ErrorFrame):
            return self._peer_error(frame)
        expected = "hello" if self.role == "server" else "welcome"
        return self._error(
            "not_negotiated",
            f"expected a {expected} frame first, got {type(frame).__name__}",
            "$.kind",
            frame.seq,
            now,
        )

    def _dispatch(self, frame: Frame, now: float) -> Outcome:
        match frame:
            case InstructionFrame():
                self._last_instruction_in = frame.seq
                if not self.auto_ack:
                    return Outcome(instructions=(frame.instruction,))
                self._acked_in = frame.seq
                ack = Ack(self._out_version(), self._next_seq(), upto=frame.seq)
                return Outcome(instructions=(frame.instruction,), outgoing=(self._emit(ack, now),))
            case Ack():
                if frame.upto > self._seq_out:
                    return self._error(
                        "bad_ack",
                        f"ack upto {frame.upto} but only {self._seq_out} frames were sent",
                        "$.upto",
                        frame.seq,
                        now,
                    )
                for seq in [s for s in self._unacked if s <= frame.upto]:
                    del self._unacked[seq]
                return Outcome()
            case Ping():
                pong = Pong(self._out_version(), self._next_seq(), echo=frame.seq)
                return Outcome(outgoing=(self._emit(pong, now),))
            case Pong():
                return Outcome()
            case ErrorFrame():
                return self._peer_error(frame)
            case Close():
                self.state = "closed"
                return Outcome(close=CloseDecision("peer_closed", frame.reason))
            case _:
                return self._error(
                    "unexpected_frame",
                    f"{type(frame).__name__} is only valid during negotiation",
                    "$.kind",
                    frame.seq,
                    now,
                )

    def _peer_error(self, frame: ErrorFrame) -> Outcome:
        if frame.fatal:
            self.state = "closed"
            return Outcome(close=CloseDecision("peer_error", f"{frame.code}: {frame.message}"))
        return Outcome(peer_errors=(frame,))

    def _error(
        self,
        code: ErrorCode,
        message: str,
        path: str | None,
        ref: int | None,
        now: float,
        retry_after: float | None = None,
    ) -> Outcome:
        if code not in _UNCOUNTED:
            self.errors += 1
        fatal = code in _FATAL or self.state == "negotiating"
        if not fatal and self.errors > self.max_errors:
            code, fatal = "too_many_errors", True
            message = f"more than {self.max_errors} bad frames; last: {message}"
        frame = ErrorFrame(
            self._out_version(),
            self._next_seq(),
            code=code,
            message=message[:_MAX_MESSAGE],
            path=path,
            ref=ref,
            fatal=fatal,
            retry_after=None if retry_after is None else min(86400.0, max(0.0, retry_after)),
        )
        outgoing = (self._emit(frame, now),)
        if not fatal:
            return Outcome(outgoing=outgoing)
        self.state = "closed"
        return Outcome(outgoing=outgoing, close=CloseDecision(code, message))

    def _next_seq(self) -> int:
        self._seq_out += 1
        return self._seq_out

    def _out_version(self) -> int:
        return self.version if self.version is not None else max(self.versions)

    def _emit(self, frame: Frame, now: float) -> bytes:
        self._last_out_at = now
        return self.codec.encode(frame)
