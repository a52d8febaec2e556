"""Each refusal reason's HTTP status: the one table of the edges served over HTTP.

A domain refuses with a reason (`kernel.RefusalReason`), never a status. The HTTP adapter
answers a refused request with this table (`adapters/http`); MCP tool errors, served at
`POST /mcp`, carry the same status beside the reason (MCP's own JSON-RPC codes are in
`adapters/mcp`). An error that is not a refusal is a failure: `FAILURE_STATUS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from ..kernel import RefusalReason

HTTP_STATUS: Final[Mapping[RefusalReason, int]] = MappingProxyType(
    {
        "not_found": 404,
        "invalid": 400,
        "conflict": 409,
        "unavailable": 503,
        "forbidden": 403,
        "too_large": 413,
        "timeout": 504,
        "over_budget": 429,
    }
)
"""The HTTP status of a refusal, by its reason (every reason has one)."""

FAILURE_STATUS: Final = 500
"""The HTTP status of an error of ours that is not a refusal (a corrupt run, a bad config)."""
