"""Mailbox configuration: unbounded by default, bounded with an explicit overflow policy.

Bounded mailboxes are for actors facing the network (transport, HTTP gateway), where a fast
producer must not grow memory without limit. The policy says what happens when it is full:

- ``await``: the sender waits for room (``await ref.send(msg)``); a plain ``tell`` raises
  ``MailboxFull`` instead of blocking, since ``tell`` never blocks.
- ``drop_newest``: the new message is discarded and counted.
- ``drop_oldest``: the oldest queued message is discarded and counted; the new one is queued.
- ``fail``: the sender gets ``MailboxFull``.

Exit and Down signals always get in: the runtime never drops a signal.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

Overflow: TypeAlias = Literal["await", "drop_newest", "drop_oldest", "fail"]


class Mailbox(msgspec.Struct, frozen=True):
    """Mailbox settings for ``spawn(..., mailbox=Mailbox(capacity=1000, overflow="fail"))``."""

    capacity: int | None = None
    overflow: Overflow = "await"

    def __post_init__(self) -> None:
        if self.capacity is not None and self.capacity < 1:
            raise ValueError(f"Mailbox.capacity must be >= 1 or None, got {self.capacity}")


UNBOUNDED = Mailbox()
