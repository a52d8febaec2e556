"""Typed errors of the live rendering core: templates, rendered trees, patches.

Every error says what was wrong and what to do about it. `LiveError` is the
common base so a session actor can catch the whole family in one place.
"""

from __future__ import annotations


class LiveError(Exception):
    """Base class of every error raised by `lightflow_actors.live`."""


class TemplateSyntaxError(LiveError):
    """A template source could not be compiled into statics and dynamics."""

    def __init__(self, source: str, problem: str) -> None:
        shown = source if len(source) <= 80 else source[:77] + "..."
        super().__init__(f"template {shown!r}: {problem}")
        self.source = source
        self.problem = problem


class TemplateValueError(LiveError):
    """A template was called with a missing, extra or unrenderable value."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"template field {field!r}: {problem}")
        self.field = field
        self.problem = problem


class RenderedError(LiveError):
    """A rendered tree has an inconsistent shape: statics vs dynamics, foreign entries, keys."""


class FingerprintCollisionError(LiveError):
    """Two different statics tuples hashed to the same fingerprint on one connection."""

    def __init__(self, fingerprint: int) -> None:
        super().__init__(
            f"fingerprint {fingerprint:#018x} names two different statics; "
            "this is a 64-bit hash collision: change one template's text slightly"
        )
        self.fingerprint = fingerprint


class PatchDecodeError(LiveError):
    """Bytes received as a patch are not valid patch JSON."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"cannot decode patch: {problem}; send a patch produced by DiffState")
        self.problem = problem


class PatchError(LiveError):
    """A decoded patch does not fit the client state it is merged into.

    `path` points at the offending part, e.g. ``$.r.2.u.row-7.0``.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(
            f"invalid patch at {path}: {problem}; the client state is unchanged, "
            "rejoin to receive a full render"
        )
        self.path = path
        self.problem = problem


# -- live sessions: views, events, hub ------------------------------------------------


class ViewDefinitionError(LiveError, TypeError):
    """A live view class is malformed (an event type that is not a struct, a duplicate name)."""


class UnknownViewError(LiveError, LookupError):
    """A request or a Mount named a view the hub does not serve."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"no live view is named {name!r}; known views: {', '.join(sorted(known)) or 'none'}"
        )
        self.name = name


class EventError(LiveError):
    """A browser event did not name a declared event, or its payload did not decode.

    `path` is the msgspec path inside the payload (``$.by``), or ``$`` for the whole
    event. The session answers with an error frame and keeps running.
    """

    def __init__(self, event: str, problem: str, path: str = "$") -> None:
        super().__init__(f"event {event!r}: {problem}")
        self.event = event
        self.problem = problem
        self.path = path


class HubNotStartedError(LiveError, RuntimeError):
    """The live hub was used before `await hub.start()` (or outside a running system)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"cannot {what}: the live hub is not started; "
            "await hub.start() (live_routes starts it on the first request)"
        )


class PeerError(LiveError):
    """A Python peer of a live session (`LiveClient`, `WebSocketView`) cannot go on:
    the socket closed, or the server sent something the live profile does not allow."""


class SecretFileError(LiveError):
    """The file holding the token key is unusable; the message names the file and the fix."""


class JSCommandError(LiveError):
    """A `JS` command was built with an argument the client could not run."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"JS command argument {argument!r}: {problem}")
        self.argument = argument
        self.problem = problem


class LiveSessionError(LiveError):
    """A view asked for something its session cannot do (a `PutSession` without a
    browser session cookie to write)."""


class StaleSessionOwner(LiveError):
    """A session's snapshot write was refused: another node (or a later incarnation of this
    one) claimed the session since this owner did. The stale session must stop; its browser
    is served by the new owner."""

    def __init__(self, key: str, owner: str, expected: int, found: int | None) -> None:
        now = "absent" if found is None else f"at revision {found}"
        super().__init__(
            f"session {key!r}: {owner!r} wrote as the owner of revision {expected}, but the "
            f"snapshot is {now}: another owner claimed it; this session must stop"
        )
        self.key = key
        self.owner = owner
        self.expected = expected
        self.found = found


class SessionStoreUnavailable(LiveError):
    """The session store could not be read or written (its broker is unreachable)."""


class UploadProtocolError(LiveError):
    """An upload frame the session refuses (unknown upload or entry, a chunk at the wrong
    offset, larger than the chunk size or than the file declared, not base64).

    `path` is the msgspec path inside the event payload (``$.entry``); the session answers
    with an error frame, fails the entry concerned, and keeps running.
    """

    def __init__(self, problem: str, path: str = "$") -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = path
