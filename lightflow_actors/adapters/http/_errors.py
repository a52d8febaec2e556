"""Errors of the HTTP surface, and the status of every error an HTTP client can get.

Route handlers raise ``HttpError``s (a bad input, a missing token); an actor the routes ask
refuses with a kernel ``Refused`` whose reason this module maps to a status, once
(``status_of``; the table is ``adapters/_refusals.py``). ``_responses.error_response``
turns either into JSON ``{"error": ..., "field": ...}``, so a client always gets a message
that says what was wrong and what to do.
"""

from __future__ import annotations

from ...kernel import LightflowError, RefusalReason, Refused
from .._refusals import HTTP_STATUS


class HttpError(LightflowError):
    """An error answered to the client with ``status`` and ``{"error": message}``.

    ``field`` names the bad input (a path or query parameter, a body field, a header) when
    the error is about one; it is also sent as ``"field"`` in the body.
    """

    status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(message)


class BadRequest(HttpError):
    """Malformed input: a path, query, header or body value failed to decode."""

    status = 400


class Unauthorized(HttpError):
    """A bearer token is configured and the request carries none."""

    status = 401


class Forbidden(HttpError):
    """The bearer token is wrong, or the request comes from a foreign Origin."""

    status = 403


class NotFound(HttpError):
    """No such route, or no live actor with that id."""

    status = 404


class MethodNotAllowed(HttpError):
    """The route exists but not for this method."""

    status = 405


class Conflict(HttpError):
    """The request is well-formed but cannot apply to the actor in its current state."""

    status = 409


class PayloadTooLarge(HttpError):
    """The request body exceeds the limit."""

    status = 413


class Unavailable(HttpError):
    """The gateway actor did not answer in time, or the system is not running."""

    status = 503


class SupervisorGone(LightflowError):
    """The supervisor of the target exited between the lookup and the action."""

    def __init__(self, supervisor: int) -> None:
        super().__init__(f"its supervisor {supervisor} has exited; look the actor up again")


class NotRestartable(LightflowError):
    """The child is ``temporary``: never restarted, and forgotten once stopped."""

    def __init__(self, actor: int, child_id: str) -> None:
        super().__init__(
            f"actor {actor} is the temporary child {child_id!r}; temporary children are never "
            f"restarted (stop or kill it instead)"
        )


class ServeRefused(LightflowError):
    """``lightflow serve`` refuses a configuration before it binds (the CLI exits 2)."""


class OperatorRefused(Refused):
    """The gateway (or an action's runner) refused an operator request: no such actor,
    nothing to restart, an action that could not finish. ``field`` names the input it is
    about (``root`` of a tree query), as ``HttpError.field`` does."""

    def __init__(self, message: str, reason: RefusalReason, *, field: str | None = None) -> None:
        super().__init__(message, reason)
        self.field = field


def status_of(error: HttpError | Refused) -> int:
    """The HTTP status an error is answered with: its own, or its refusal reason's."""
    if isinstance(error, HttpError):
        return error.status
    return HTTP_STATUS[error.reason]


class ServeStartFailed(Exception):
    """A part of the server could not start (its cluster unreachable, its state folder
    unusable): the server stopped without announcing itself; the message says why."""
