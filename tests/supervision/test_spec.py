"""ChildSpec validation (hostile values name the field) and the package's doctests."""

from __future__ import annotations

import doctest
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.supervision import (
    ChildSpec,
    InvalidChildSpec,
    RestartIntensity,
    _intensity,
    _spec,
)

from ._actors import Plain

_VALID: dict[str, object] = {
    "id": "w",
    "start": Plain,
    "restart": "permanent",
    "shutdown": 1.0,
    "type": "worker",
    "backoff": None,
    "name": None,
}

_hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
)


def _accepted(field: str, value: object) -> bool:
    """Whether OTP (and so ChildSpec) accepts ``value`` for ``field``."""
    if field == "id":
        return isinstance(value, str) and value != ""
    if field == "start":
        return callable(value)
    if field == "restart":
        return value in ("permanent", "transient", "temporary")
    if field == "type":
        return value in ("worker", "supervisor")
    if field == "shutdown":
        if value is None or value in ("brutal_kill", "infinity"):
            return True
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= 0
        )
    if field == "name":
        return value is None or (isinstance(value, str) and value != "")
    if field == "backoff":
        return value is None
    raise AssertionError(field)


@given(field=st.sampled_from(sorted(_VALID)), value=_hostile)
def test_child_spec_rejects_malformed_fields_with_a_message_naming_them(
    field: str, value: object
) -> None:
    kwargs = dict(_VALID, **{field: value})
    if _accepted(field, value):
        ChildSpec(**kwargs)  # type: ignore[arg-type]
        return
    with pytest.raises(InvalidChildSpec, match=f"ChildSpec.{field} must be") as info:
        ChildSpec(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_child_spec_defaults_follow_otp() -> None:
    spec = ChildSpec(id="w", start=Plain)
    assert (spec.restart, spec.type, spec.shutdown_policy) == ("permanent", "worker", 5.0)


@pytest.mark.parametrize("module", [_intensity, _spec])
def test_doctests(module: object) -> None:
    result = doctest.testmod(module, raise_on_error=False)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


def test_intensity_flags_are_validated() -> None:
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="intensity"):
            RestartIntensity(bad, 5.0)  # type: ignore[arg-type]
    for bad_period in (0, -1.0, math.inf, math.nan, "5"):
        with pytest.raises(ValueError, match="period"):
            RestartIntensity(1, bad_period)  # type: ignore[arg-type]
