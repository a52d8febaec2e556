"""NATS subject names for what the runtime publishes (specs/cluster.md §Subjects).

A pubsub topic is free text (`"room:lobby"`, `"user 7/inbox"`), a NATS subject is
dot-separated tokens without whitespace, `*` or `>`. A topic becomes **one** token:
ASCII letters, digits, `-`, `_` and `:` stay as they are, every other byte of its UTF-8 is
`~XX` (two hex digits); the empty topic is `~`; a topic whose token would exceed
`MAX_TOKEN` bytes becomes `~h` and the SHA-256 of the topic (receivers never need to
reverse a subject: each subscription knows its topic).
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

MAX_TOKEN: Final = 200
_PLAIN: Final = re.compile(rb"[A-Za-z0-9_:-]")
_PREFIX: Final = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def check_prefix(prefix: str) -> str:
    """`prefix` if it is a valid subject prefix (tokens of `[A-Za-z0-9_-]`), else ValueError."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"subject prefix {prefix!r} must be dot-separated tokens of letters, digits, - and _"
        )
    return prefix


def topic_token(topic: str) -> str:
    """The single subject token that stands for `topic`."""
    if not topic:
        return "~"
    raw = topic.encode("utf-8", "surrogatepass")
    token = "".join(
        chr(byte) if _PLAIN.fullmatch(bytes((byte,))) else f"~{byte:02X}" for byte in raw
    )
    if len(token) > MAX_TOKEN:
        return "~h" + hashlib.sha256(raw).hexdigest()
    return token


def pubsub_subject(prefix: str, topic: str) -> str:
    """`<prefix>.pubsub.<token>`: where every node's publications on `topic` go."""
    return f"{prefix}.pubsub.{topic_token(topic)}"
