"""Typed errors of the CortexFS client side: bad ids, paths that escape the tree, conflicts.

Every message says what was wrong and what to do about it.
"""

from __future__ import annotations


class CortexError(Exception):
    """Base class of every CortexFS client error."""


class InvalidIdError(CortexError, ValueError):
    """An id (request, tool, thread, channel, job, hook, uid) breaks the ABI's id rule."""

    def __init__(self, kind: str, value: str, rule: str) -> None:
        self.kind = kind
        self.value = value
        self.rule = rule
        super().__init__(f"invalid {kind} id {value!r}: {rule}; choose an id that follows the rule")


class UnknownFormatError(CortexError, ValueError):
    """An API format outside the four the ABI defines."""

    def __init__(self, fmt: str, known: tuple[str, ...]) -> None:
        self.format = fmt
        super().__init__(f"unknown API format {fmt!r}; use one of {', '.join(known)}")


class PathEscapeError(CortexError):
    """A path would leave the CortexFS tree (through `..` or a symlink)."""

    def __init__(self, path: str, root: str) -> None:
        self.path = path
        self.root = root
        super().__init__(
            f"path {path!r} leaves the CortexFS tree {root!r}; "
            "use ids that are single path segments and no symlinks"
        )


class RequestConflictError(CortexError):
    """A request with this id was already committed (or answered) in this inbox."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"a request is already committed at {path!r}; pick a fresh request id")


class ResponseTimeoutError(CortexError, TimeoutError):
    """No response or error file appeared for a committed request in time."""

    def __init__(self, request_id: str, outbox: str, timeout_s: float) -> None:
        self.request_id = request_id
        super().__init__(
            f"no response or error for request {request_id!r} in {outbox!r} after {timeout_s}s; "
            "check that the substrate is running and routes this target (see audit/events.jsonl)"
        )
