"""Per-tenant budgets, and the file they are configured in.

`TenantsConfig` is one JSON document, decoded once by msgspec (a bad field is named with
its path, ``$.tenants.acme.runs_in_flight``)::

    {
      "default": {"live_sessions": 1000, "session_events_per_s": 20},
      "tenants": {
        "acme":  {"live_sessions": 50, "tenant_events_per_s": 200, "runs_in_flight": 4,
                  "provider_calls_per_min": 600, "steps_per_s": 100, "weight": 2}
      },
      "node": {"steps_per_s": 500}
    }

A tenant listed in ``tenants`` gets exactly its entry (fields it leaves out are
unlimited); every other tenant gets ``default``. A budget left out (None) is unlimited.
Loaded from ``$LIGHTFLOW_TENANTS_CONFIG`` or ``$XDG_CONFIG_HOME/lightflow/tenants.json``
(`load_tenants_config`), or built in Python.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Final

import msgspec
import platformdirs

from ._ids import TenantId

__all__ = [
    "TENANTS_CONFIG_ENV",
    "Budgets",
    "NodeBudgets",
    "TenantsConfig",
    "TenantsConfigError",
    "decode_tenants_config",
    "load_tenants_config",
    "tenants_config_path",
]

TENANTS_CONFIG_ENV: Final = "LIGHTFLOW_TENANTS_CONFIG"
MAX_CONFIG_BYTES: Final = 1 << 20
"""A tenants file larger than this is refused (it is a config file, not a database)."""

Count = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
Rate = Annotated[float, msgspec.Meta(gt=0, le=1e9)]
Burst = Annotated[float, msgspec.Meta(ge=1, le=1e9)]
Weight = Annotated[int, msgspec.Meta(ge=1, le=1000)]


class Budgets(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """What one tenant may use at once or per unit of time; None: unlimited.

    Rates are token buckets: ``*_per_s`` (or ``_per_min``) tokens come back continuously,
    at most ``*_burst`` are saved up (default: one second's worth, or one minute's for
    provider calls, at least 1). `weight` is the tenant's share where work waits in a
    queue (provider slots, step turns): a tenant of weight 2 is served twice as often as
    one of 1 while both wait.

    `steps_per_s` bounds the tenant's run work, as BEAM's reductions bound a process's:
    each step its runs dispatch on this node (an output-cache look-up, or the request
    commit of a step that has none) takes a token, and a run whose tenant has none left
    waits for its turn (`StepTurns`), its tenant's runs in turn. A run of ten steps served
    from the output cache so costs ten, not the one `runs_in_flight` counts.
    """

    live_sessions: Count | None = None
    session_events_per_s: Rate | None = None
    session_events_burst: Burst | None = None
    tenant_events_per_s: Rate | None = None
    tenant_events_burst: Burst | None = None
    runs_in_flight: Count | None = None
    provider_calls_per_min: Rate | None = None
    provider_calls_burst: Burst | None = None
    steps_per_s: Rate | None = None
    steps_burst: Burst | None = None
    weight: Weight = 1


class NodeBudgets(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """What the whole node gives to every tenant together; None: unlimited.

    `steps_per_s`: run steps dispatched a second on this node, shared between the tenants
    whose steps wait by their `weight` (weighted round robin): a tenant's step waits for
    at most one turn of each other waiting tenant, however many steps they queued.
    """

    steps_per_s: Rate | None = None
    steps_burst: Burst | None = None


class TenantsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Budgets of every tenant: `tenants` by id, `default` for any other; `node`, what
    they share."""

    default: Budgets = msgspec.field(default_factory=Budgets)
    tenants: dict[TenantId, Budgets] = msgspec.field(default_factory=dict)
    node: NodeBudgets = msgspec.field(default_factory=NodeBudgets)

    def budgets(self, tenant: str) -> Budgets:
        return self.tenants.get(tenant, self.default)


class TenantsConfigError(ValueError):
    """The tenants file is unreadable or malformed; the message names the field."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        super().__init__(f"tenants config {source}: {problem}; fix it (see specs/tenants.md)")


def decode_tenants_config(data: bytes, source: str = "<bytes>") -> TenantsConfig:
    """Decode one tenants document (JSON), or `TenantsConfigError` naming the bad field."""
    if len(data) > MAX_CONFIG_BYTES:
        raise TenantsConfigError(source, f"{len(data)} bytes, more than {MAX_CONFIG_BYTES}")
    try:
        return msgspec.json.decode(data, type=TenantsConfig)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise TenantsConfigError(source, str(error)) from None
    except UnicodeDecodeError as error:  # msgspec checks a pattern-typed key as text
        raise TenantsConfigError(source, f"invalid UTF-8 in a tenant id ({error.reason})") from None


def tenants_config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the tenants file is: the env variable, else the XDG file if it exists."""
    env = os.environ if environ is None else environ
    named = env.get(TENANTS_CONFIG_ENV)
    if named:
        return Path(named)
    default = platformdirs.user_config_path("lightflow") / "tenants.json"
    return default if default.is_file() else None


def load_tenants_config(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> TenantsConfig | None:
    """The tenants config from `path` (else `tenants_config_path`); None when there is no
    file (no budgets: every tenant unlimited, still scheduled fairly)."""
    if path is None:
        path = tenants_config_path(environ)
        if path is None:
            return None
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise TenantsConfigError(str(path), f"cannot read it ({error.strerror})") from None
    return decode_tenants_config(data, str(path))
