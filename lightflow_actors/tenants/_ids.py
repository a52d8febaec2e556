"""Tenant ids: what a session or a run names as its tenant, checked once at the boundary.

A tenant id travels into operator views, run files (``request.json``), CortexFS sidecar
files (``<id>.tenant``) and log lines, so it is one short path-safe segment: a letter or
digit, then up to 63 letters, digits, ``.``, ``_`` or ``-`` (never ``.``/``..``, no ``/``,
no control characters, no non-ASCII look-alikes). Everything without a tenant belongs to
`DEFAULT_TENANT`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Final

import msgspec

from ..kernel import Refused

__all__ = [
    "DEFAULT_TENANT",
    "TENANT_HEADER",
    "TENANT_PATTERN",
    "TenantId",
    "TenantIdError",
    "check_tenant",
    "tenant_of_session",
]

DEFAULT_TENANT: Final = "default"
"""The tenant of whatever names none (an anonymous session, a run created without one)."""

TENANT_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
TENANT_HEADER: Final = "x-lightflow-tenant"
"""The request header that names a run's tenant (the body field ``tenant`` wins)."""

TenantId = Annotated[str, msgspec.Meta(pattern=TENANT_PATTERN)]
"""A tenant id as a msgspec type: decoding checks it and names the field on failure."""

_TENANT = re.compile(TENANT_PATTERN)


class TenantIdError(Refused):
    """A tenant id that is not one: refused with ``invalid``, naming where it came from."""

    reason = "invalid"

    def __init__(self, value: object, field: str) -> None:
        self.field = field
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(
            f"{field}: {shown} is not a tenant id; use 1 to 64 ASCII letters, digits, '.', "
            "'_' or '-', starting with a letter or digit"
        )


def check_tenant(value: object, field: str = "tenant") -> str:
    """`value` as a tenant id, or `TenantIdError` naming `field`."""
    if isinstance(value, str) and _TENANT.fullmatch(value) is not None:
        return value
    raise TenantIdError(value, field)


def tenant_of_session(assigns: Mapping[str, object], signed: Mapping[str, object]) -> str:
    """The tenant of a live session: what an ``on_mount`` hook assigned as ``tenant``,
    else the signed cookie session's ``tenant``, else `DEFAULT_TENANT`.

    A value that is not a tenant id raises `TenantIdError` (field ``assigns.tenant`` or
    ``session.tenant``): a hook or a cookie that names a bad tenant is a bug to see, not
    a tenant to guess.
    """
    if "tenant" in assigns and assigns["tenant"] is not None:
        return check_tenant(assigns["tenant"], "assigns.tenant")
    if "tenant" in signed and signed["tenant"] is not None:
        return check_tenant(signed["tenant"], "session.tenant")
    return DEFAULT_TENANT
