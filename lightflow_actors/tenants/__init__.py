"""Tenants: who a session or a run works for, what each may use, and fair shares.

A tenant id rides on live sessions (from an ``on_mount`` hook or the signed cookie
session) and on runs (the request's ``tenant`` field or ``X-Lightflow-Tenant`` header);
operators see it on the actors in the supervision tree and in run events and traces.
`TenantLedger` admits work within each tenant's `Budgets` (token buckets on the system's
clock) and records each refusal; `FairQueue` serves waiting work round-robin across
tenants; `StepTurns` makes runs' steps take turns within their tenant's step rate. See
ADR 0104, ADR 0134 and specs/tenants.md.
"""

from ._bucket import TokenBucket
from ._budgets import (
    TENANTS_CONFIG_ENV,
    Budgets,
    NodeBudgets,
    TenantsConfig,
    TenantsConfigError,
    decode_tenants_config,
    load_tenants_config,
    tenants_config_path,
)
from ._digest import RefusalDigest, RefusalSummary, report_refusals
from ._fair import FairQueue
from ._ids import (
    DEFAULT_TENANT,
    TENANT_HEADER,
    TENANT_PATTERN,
    TenantId,
    TenantIdError,
    check_tenant,
    tenant_of_session,
)
from ._ledger import BudgetName, OverBudget, TenantEvent, TenantLedger, TenantUsage
from ._turns import StepTurns

__all__ = [
    "DEFAULT_TENANT",
    "TENANTS_CONFIG_ENV",
    "TENANT_HEADER",
    "TENANT_PATTERN",
    "BudgetName",
    "Budgets",
    "FairQueue",
    "NodeBudgets",
    "OverBudget",
    "RefusalDigest",
    "RefusalSummary",
    "StepTurns",
    "TenantEvent",
    "TenantId",
    "TenantIdError",
    "TenantLedger",
    "TenantUsage",
    "TenantsConfig",
    "TenantsConfigError",
    "TokenBucket",
    "check_tenant",
    "decode_tenants_config",
    "load_tenants_config",
    "report_refusals",
    "tenant_of_session",
    "tenants_config_path",
]
