"""How a value or an error becomes a response: JSON, with the error's status.

Every JSON response of both HTTP surfaces is built here. An error is ``{"error": message,
"field": ...}`` (``ErrorBody``) with the status ``_errors.status_of`` gives it; a 401 also
asks for a bearer token.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from starlette.responses import Response

from ...kernel import Refused
from ...tenants import OverBudget
from ..operator_api import ErrorBody
from ._errors import HttpError, OperatorRefused, status_of

_encoder = msgspec.json.Encoder()


def json_response(
    value: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``value`` (a msgspec struct, or anything msgspec encodes) as a JSON response."""
    return Response(
        _encoder.encode(value), status_code=status, headers=headers, media_type="application/json"
    )


def error_response(error: HttpError | Refused) -> Response:
    """The answer to a request that failed with ``error``: its message and status."""
    field = error.field if isinstance(error, HttpError | OperatorRefused) else None
    response = error_body(error.message, status_of(error), field)
    if isinstance(error, OverBudget):  # 429: when the tenant may try again (RFC 9110)
        response.headers["Retry-After"] = error.retry_after_header
    return response


def error_body(message: str, status: int, field: str | None = None) -> Response:
    """``{"error": message, "field": field}`` with ``status``."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return json_response(ErrorBody(message, field), status, headers)
