"""The tenants file: decoded once, bad fields named, hostile files refused cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.tenants import (
    TENANTS_CONFIG_ENV,
    Budgets,
    NodeBudgets,
    TenantsConfig,
    TenantsConfigError,
    decode_tenants_config,
    load_tenants_config,
)
from lightflow_actors.tenants._budgets import MAX_CONFIG_BYTES

GOOD = b"""{
  "default": {"live_sessions": 1000, "session_events_per_s": 20},
  "tenants": {"acme": {"runs_in_flight": 4, "provider_calls_per_min": 600, "weight": 2}}
}"""


def test_a_listed_tenant_gets_its_entry_and_any_other_the_default() -> None:
    config = decode_tenants_config(GOOD)
    assert config.budgets("acme") == Budgets(runs_in_flight=4, provider_calls_per_min=600, weight=2)
    assert config.budgets("zeta") == Budgets(live_sessions=1000, session_events_per_s=20)
    assert TenantsConfig().budgets("x") == Budgets()


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b'{"tenants": {"acme": {"runs_in_flight": -1}}}', "$.tenants[...].runs_in_flight"),
        (b'{"tenants": {"../x": {}}}', "key` in `$.tenants"),
        (b'{"default": {"session_events_per_s": 0}}', "$.default.session_events_per_s"),
        (b'{"default": {"live_sesions": 3}}', "live_sesions"),
        (b'{"default": {"weight": 0}}', "$.default.weight"),
        (b"[]", "Expected `object`"),
        (b'{"default": ', "truncated"),
        (b'{"default": {"live_sessions": "\xff\xfe"}}', "$.default.live_sessions"),
        (b'{"tenants": {"\xff\xfe": {}}}', "utf-8"),
        (b'{"default": {"steps_per_s": 0}}', "$.default.steps_per_s"),
        (b'{"default": {"steps_per_s": -5}}', "$.default.steps_per_s"),
        (b'{"default": {"steps_per_s": "fast"}}', "$.default.steps_per_s"),
        (b'{"default": {"steps_per_s": 1e12}}', "$.default.steps_per_s"),
        (b'{"tenants": {"acme": {"steps_burst": 0.5}}}', "$.tenants[...].steps_burst"),
        (b'{"node": {"steps_per_s": 0}}', "$.node.steps_per_s"),
        (b'{"node": {"steps_per_sec": 10}}', "steps_per_sec"),
        (b'{"node": {"steps_burst": null, "weight": 2}}', "weight"),
        (b'{"node": []}', "$.node"),
    ],
)
def test_a_bad_file_is_refused_naming_what_is_wrong(data: bytes, where: str) -> None:
    with pytest.raises(TenantsConfigError) as caught:
        decode_tenants_config(data, "t.json")
    assert "tenants config t.json: " in str(caught.value)
    assert where.lower() in str(caught.value).lower()


def test_step_budgets_decode_per_tenant_and_for_the_node() -> None:
    config = decode_tenants_config(
        b'{"tenants": {"acme": {"steps_per_s": 100, "steps_burst": 10, "weight": 3}},'
        b' "node": {"steps_per_s": 500}}'
    )
    assert config.budgets("acme") == Budgets(steps_per_s=100, steps_burst=10, weight=3)
    assert config.budgets("zeta").steps_per_s is None  # unlimited: its steps never wait
    assert config.node == NodeBudgets(steps_per_s=500)
    assert decode_tenants_config(b"{}").node == NodeBudgets()


def test_an_oversized_or_deeply_nested_file_is_refused_without_decoding_it_all() -> None:
    with pytest.raises(TenantsConfigError, match="more than"):
        decode_tenants_config(b" " * (MAX_CONFIG_BYTES + 1))
    deep = b'{"default": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    with pytest.raises(TenantsConfigError):
        decode_tenants_config(deep)


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_are_refused_with_the_typed_error(data: bytes) -> None:
    try:
        config = decode_tenants_config(data)
    except TenantsConfigError:
        return
    assert isinstance(config, TenantsConfig)


def test_the_file_is_found_by_the_env_variable_and_none_means_no_budgets(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_bytes(GOOD)
    config = load_tenants_config(environ={TENANTS_CONFIG_ENV: str(path)})
    assert config is not None and config.budgets("acme").weight == 2
    assert load_tenants_config(path) == config
    with pytest.raises(TenantsConfigError, match="cannot read it"):
        load_tenants_config(tmp_path / "missing.json")
    assert load_tenants_config(environ={"XDG_CONFIG_HOME": str(tmp_path / "none")}) is None
