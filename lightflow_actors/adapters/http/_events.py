"""The lifecycle event stream: one ``EventStream`` actor per SSE connection.

The actor reads the system's event ring buffer from the client's ``Last-Event-ID`` and
subscribes to new events in the same synchronous step, so no event falls between the
backlog and the live feed. It puts events in an outbox that the HTTP response drains. A
client too slow to keep up (outbox over ``max_pending``) is cut off with a ``lagged`` end;
it reconnects with ``Last-Event-ID`` and resumes from the ring buffer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec

from ...kernel import Actor, ExitReason, LifecycleEvent, format_reason, handler

DEFAULT_MAX_PENDING = 4096


class StreamGap(msgspec.Struct, frozen=True):
    """Events the client asked for are no longer in the ring buffer: refetch the tree.

    ``requested`` is the client's ``Last-Event-ID``; ``oldest`` the oldest event still kept.
    """

    requested: int
    oldest: int


class StreamEnd(msgspec.Struct, frozen=True):
    """The stream is over (the server shuts down, or the client lagged): reconnect later."""

    reason: str


class CloseStream(msgspec.Struct, frozen=True):
    """Ask the stream actor to stop (the client went away, or the server drains)."""


StreamItem = LifecycleEvent | StreamGap | StreamEnd


class EventStream(Actor[LifecycleEvent | CloseStream]):
    """Feeds one SSE connection with lifecycle events newer than ``last_event_id``."""

    def __init__(
        self,
        outbox: asyncio.Queue[StreamItem],
        last_event_id: int | None,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self.outbox = outbox
        self.last_event_id = last_event_id
        self.max_pending = max_pending
        self.sent = 0
        self.end_reason: str | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def on_start(self) -> None:
        system = self.system
        ring = system.events(limit=0)
        requested = self.last_event_id
        if requested is None:
            # A fresh client wants what happens from now on.
            self.sent = ring[-1].seq if ring else 0
        else:
            self.sent = requested
            oldest = ring[0].seq if ring else requested + 1
            if requested + 1 < oldest:
                self.outbox.put_nowait(StreamGap(requested=requested, oldest=oldest))
            for event in ring:
                if event.seq > requested:
                    self._push(event)
        ref = self.ref

        def deliver(event: LifecycleEvent) -> None:
            if ref.alive:
                ref.tell(event)
            elif self._unsubscribe is not None:
                # Killed (no on_stop ran): drop the subscription on the next event.
                self._unsubscribe()

        self._unsubscribe = system.subscribe(deliver)

    @handler
    def event(self, event: LifecycleEvent) -> None:
        if event.seq > self.sent:
            self._push(event)

    @handler
    def close(self, msg: CloseStream) -> None:
        self._end("closed")

    def on_stop(self, reason: ExitReason) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        text = self.end_reason or format_reason(reason)
        self.outbox.put_nowait(StreamEnd(reason=text))

    def _end(self, why: str) -> None:
        # A normal exit: the stream is linked to the gateway, and any other reason would
        # take the gateway down with it. Why it ended travels in the StreamEnd item.
        self.end_reason = why
        self.stop()

    def _push(self, event: LifecycleEvent) -> None:
        if self.outbox.qsize() >= self.max_pending:
            self._end("lagged")
            return
        self.sent = event.seq
        self.outbox.put_nowait(event)


_encoder = msgspec.json.Encoder()


def sse_frame(item: StreamItem) -> bytes:
    """One Server-Sent Events frame: ``id`` (events only), ``event`` type, JSON ``data``."""
    if isinstance(item, LifecycleEvent):
        head = f"id: {item.seq}\nevent: {item.kind}\n"
    elif isinstance(item, StreamGap):
        head = "event: gap\n"
    else:
        head = "event: end\n"
    return head.encode() + b"data: " + _encoder.encode(item) + b"\n\n"


SSE_PREAMBLE = b"retry: 2000\n\n"
"""Sent first: the browser reconnects after 2 s (with ``Last-Event-ID``) if cut off."""

SSE_KEEPALIVE = b": keepalive\n\n"
"""A comment line sent when idle, so proxies keep the connection and a gone client shows."""
