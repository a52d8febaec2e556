"""Errors of the HTTP surface: each maps to one status code and a JSON ``{"error": ...}`` body.

Route handlers raise them; one exception handler in the app turns them into responses, so
a client always gets JSON with a message that says what was wrong and what to do.
"""

from __future__ import annotations

from ...kernel import LightflowError


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


STATUS_ERRORS: dict[int, type[HttpError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        Unavailable,
    )
}
"""The error class for a status code, for refusals that cross the gateway as values."""
