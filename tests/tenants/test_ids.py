"""Tenant ids: what is one, and hostile ones refused with the field named."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.tenants import (
    DEFAULT_TENANT,
    TenantId,
    TenantIdError,
    check_tenant,
    tenant_of_session,
)

HOSTILE = [
    "",
    ".",
    "..",
    "../etc",
    "a/b",
    "a\\b",
    "-lead",
    "_lead",
    "a b",
    "a\x00b",
    "a\nb",
    "ä",
    "\u0430cme",  # a Cyrillic a
    "x" * 65,
    "a\u202eb",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_tenant_id_is_refused_naming_the_field(value: str) -> None:
    with pytest.raises(TenantIdError) as caught:
        check_tenant(value, "body.tenant")
    assert caught.value.reason == "invalid"
    assert str(caught.value).startswith("body.tenant: ")
    assert caught.value.field == "body.tenant"


@pytest.mark.parametrize("value", [None, 3, ["acme"], {"t": 1}, b"acme"])
def test_a_tenant_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(TenantIdError):
        check_tenant(value)


@given(st.text(max_size=100))
def test_any_text_is_either_a_safe_segment_or_refused(value: str) -> None:
    try:
        tenant = check_tenant(value)
    except TenantIdError as error:
        assert len(str(error)) < 400  # the message shows a bounded excerpt, not the input
        return
    assert tenant == value
    assert 1 <= len(tenant) <= 64
    assert tenant not in (".", "..")
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in tenant)
    assert "/" not in tenant


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True))
def test_every_id_of_the_pattern_is_accepted_and_decodes_as_the_type(value: str) -> None:
    assert check_tenant(value) == value
    assert msgspec.json.decode(msgspec.json.encode(value), type=TenantId) == value


def test_the_msgspec_type_names_the_bad_field() -> None:
    class Body(msgspec.Struct):
        tenant: TenantId

    with pytest.raises(msgspec.ValidationError, match=r"\$\.tenant"):
        msgspec.json.decode(b'{"tenant": "../x"}', type=Body)


def test_a_session_tenant_comes_from_the_hook_then_the_cookie_then_the_default() -> None:
    assert tenant_of_session({"tenant": "acme"}, {"tenant": "other"}) == "acme"
    assert tenant_of_session({}, {"tenant": "other"}) == "other"
    assert tenant_of_session({"user": "ann"}, {}) == DEFAULT_TENANT
    with pytest.raises(TenantIdError, match=r"assigns\.tenant"):
        tenant_of_session({"tenant": "../x"}, {})
    with pytest.raises(TenantIdError, match=r"session\.tenant"):
        tenant_of_session({}, {"tenant": 12})
