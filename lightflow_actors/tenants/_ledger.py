"""`TenantLedger`: what each tenant uses now, its budgets, and every refusal as an event.

One ledger per node, shared by the services that admit work for tenants: the live hub
(sessions and their events), the runs host (runs in flight) and the provider hosts of the
substrate (provider calls). They all run on the system's loop and ask the ledger
synchronously, so admitting an event costs a dict lookup and a token bucket, not an actor
round trip; the ledger itself never blocks and never reads a clock of its own (it takes
the system's `Clock`, so under the deterministic scheduler its buckets follow virtual
time).

A refusal raises `OverBudget` (a kernel `Refused`, reason ``over_budget``, with
`retry_after` seconds): the HTTP adapter answers it 429 with ``Retry-After``, the live
wire with an ``over_budget`` error frame. Every refusal, and every time a tenant's
provider calls start waiting for its budget (``provider_wait`` / ``provider_call`` /
``provider_throttled``, asked by the provider hosts), is recorded as a `TenantEvent` (a
bounded ring, numbered, and told to the listeners) and counted per tenant in `usage`.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import Final, Literal, TypeAlias

import msgspec

from ..kernel import Clock, Refused
from ._bucket import TokenBucket
from ._budgets import Budgets, TenantsConfig

__all__ = [
    "BudgetName",
    "OverBudget",
    "TenantEvent",
    "TenantLedger",
    "TenantUsage",
]

logger = logging.getLogger("lightflow_actors.tenants")

BudgetName: TypeAlias = Literal[
    "live_sessions", "session_events", "tenant_events", "runs_in_flight", "provider_calls", "steps"
]
EventKind: TypeAlias = Literal["refused", "throttled"]

MAX_TRACKED: Final = 10_000
"""Tenants the ledger keeps state for; past it, the idle ones (no session, no run) are
forgotten, so ids that come and go (a client naming a new tenant per request) cannot
grow it without bound."""

COUNT_RETRY_S: Final = 1.0
"""`retry_after` of a count budget (sessions, runs): nothing says when one ends, so a
client is told to try again in a second."""


class OverBudget(Refused):
    """The tenant used up `budget`; try again after `retry_after` seconds."""

    reason = "over_budget"

    def __init__(self, tenant: str, budget: BudgetName, limit: float, retry_after: float) -> None:
        self.tenant = tenant
        self.budget = budget
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(
            f"tenant {tenant!r} is over its {budget} budget ({_limit_text(budget, limit)}); "
            f"retry after {retry_after:.3g} s"
        )

    @property
    def retry_after_header(self) -> str:
        """The ``Retry-After`` header value: whole seconds, at least 1 (RFC 9110 §10.2.3)."""
        return str(max(1, math.ceil(self.retry_after)))


def _limit_text(budget: BudgetName, limit: float) -> str:
    match budget:
        case "live_sessions":
            return f"{limit:g} live sessions"
        case "runs_in_flight":
            return f"{limit:g} runs in flight"
        case "provider_calls":
            return f"{limit:g} provider calls a minute"
        case "session_events":
            return f"{limit:g} events a second per session"
        case "steps":
            return f"{limit:g} run steps a second"
        case _:
            return f"{limit:g} events a second"


def _limit_of(budgets: Budgets, budget: BudgetName) -> float:
    """The limit `budgets` sets for `budget` (0 when none is set)."""
    match budget:
        case "live_sessions":
            value: float | None = budgets.live_sessions
        case "session_events":
            value = budgets.session_events_per_s
        case "tenant_events":
            value = budgets.tenant_events_per_s
        case "runs_in_flight":
            value = budgets.runs_in_flight
        case "steps":
            value = budgets.steps_per_s
        case _:
            value = budgets.provider_calls_per_min
    return 0.0 if value is None else value


class TenantEvent(msgspec.Struct, frozen=True, omit_defaults=True):
    """One refusal (``refused``) or held provider call (``throttled``) of a tenant.

    `subject` names what was refused or held: a session id, a run id, `<run>/<step>` (a
    step submitted by hand), the provider whose queue holds the tenant's calls.
    """

    seq: int
    at_ms: int
    kind: EventKind
    tenant: str
    budget: BudgetName
    limit: float
    retry_after: float
    subject: str | None = None


class TenantUsage(msgspec.Struct, frozen=True):
    """What one tenant uses now and how often it was refused (`GET /system/tenants`)."""

    tenant: str
    live_sessions: int
    runs_in_flight: int
    refused: dict[str, int]
    throttled: int
    budgets: Budgets
    live_sessions_elsewhere: int = 0  # on the other nodes of a cluster, as last heard
    runs_in_flight_elsewhere: int = 0
    steps: int = 0  # run steps dispatched on this node (each took a `steps` token)
    steps_held: int = 0  # of which waited for their turn (`StepTurns`) first


class _TenantState:
    """One tenant's counters and shared buckets (created on first use)."""

    __slots__ = (
        "events",
        "provider",
        "refused",
        "runs",
        "sessions",
        "steps",
        "steps_bucket",
        "steps_held",
        "throttled",
    )

    def __init__(self) -> None:
        self.sessions = 0
        self.runs: set[str] = set()
        self.events: TokenBucket | None = None
        self.provider: TokenBucket | None = None
        self.steps_bucket: TokenBucket | None = None
        self.refused: dict[str, int] = {}
        self.throttled = 0
        self.steps = 0
        self.steps_held = 0

    @property
    def idle(self) -> bool:
        return self.sessions == 0 and not self.runs


Listener: TypeAlias = Callable[[TenantEvent], None]


class TenantLedger:
    """Admit sessions, events, runs and provider calls within each tenant's budgets.

    ::

        ledger = TenantLedger(TenantsConfig(default=Budgets(live_sessions=100)),
                              clock=system.clock)
        ledger.open_session("acme", "s1")     # raises OverBudget past 100
        ledger.close_session("acme")
    """

    def __init__(
        self, config: TenantsConfig | None = None, *, clock: Clock, keep: int = 1024
    ) -> None:
        self._config = config if config is not None else TenantsConfig()
        self._clock = clock
        self._tenants: dict[str, _TenantState] = {}
        self._run_tenants: dict[str, str] = {}
        self._events: deque[TenantEvent] = deque(maxlen=keep)
        self._seq = 0
        self._listeners: list[Listener] = []
        # Other nodes' use (a cluster, `set_peer_usage`): node -> tenant -> (sessions,
        # runs), and their sum per tenant, which the count budgets add to this node's.
        self._peers: dict[str, dict[str, tuple[int, int]]] = {}
        self._elsewhere: dict[str, tuple[int, int]] = {}
        # The node's step rate every tenant shares (`NodeBudgets.steps_per_s`), if set.
        self._node_steps: TokenBucket | None = None
        self._node_steps_made = False

    # -- configuration ----------------------------------------------------------------

    @property
    def config(self) -> TenantsConfig:
        return self._config

    def reconfigure(self, config: TenantsConfig) -> None:
        """Use `config` from now on (counts carry over; the tenants' rate buckets start
        full again; a live session's own events bucket keeps its rate until it ends)."""
        self._config = config
        for state in self._tenants.values():
            state.events = None
            state.provider = None
            state.steps_bucket = None
        self._node_steps, self._node_steps_made = None, False

    def budgets(self, tenant: str) -> Budgets:
        return self._config.budgets(tenant)

    @property
    def limited(self) -> bool:
        """False when no budget is set for anyone (admission then only counts)."""
        config = self._config
        return (
            config.default != Budgets()
            or any(b != Budgets() for b in config.tenants.values())
            or config.node.steps_per_s is not None
        )

    # -- live sessions ----------------------------------------------------------------

    def open_session(self, tenant: str, subject: str | None = None) -> None:
        """Count a new live session of `tenant`, or refuse it (`OverBudget`)."""
        state = self._state(tenant)
        limit = self.budgets(tenant).live_sessions
        if limit is not None and state.sessions + self._sessions_elsewhere(tenant) >= limit:
            raise self._refuse(tenant, state, "live_sessions", limit, COUNT_RETRY_S, subject)
        state.sessions += 1

    def close_session(self, tenant: str) -> None:
        state = self._tenants.get(tenant)
        if state is not None and state.sessions > 0:
            state.sessions -= 1

    def session_bucket(self, tenant: str) -> TokenBucket | None:
        """A new bucket for one session's events (None: no per-session rate)."""
        budgets = self.budgets(tenant)
        rate = budgets.session_events_per_s
        if rate is None:
            return None
        burst = budgets.session_events_burst or max(1.0, rate)
        return TokenBucket(rate, burst, self._clock.now())

    def admit_event(
        self, tenant: str, session: TokenBucket | None = None, subject: str | None = None
    ) -> None:
        """Admit one event of a session of `tenant` (its own bucket `session`, then the
        tenant's), or refuse it (`OverBudget`); a refused event takes no token."""
        now = self._clock.now()
        if session is not None:
            wait = session.peek(now)
            if wait > 0:
                state = self._state(tenant)
                raise self._refuse(tenant, state, "session_events", session.rate, wait, subject)
        budgets = self.budgets(tenant)
        rate = budgets.tenant_events_per_s
        if rate is not None:
            state = self._state(tenant)
            bucket = state.events
            if bucket is None:
                burst = budgets.tenant_events_burst or max(1.0, rate)
                bucket = state.events = TokenBucket(rate, burst, now)
            if bucket.take(now) > 0:
                # The tenant's sessions share this bucket: each refused one is told a slot
                # of its own, so paused sockets resume one per token (ADR 0113).
                wait = bucket.wait_in_line(now)
                raise self._refuse(tenant, state, "tenant_events", rate, wait, subject)
        if session is not None:
            session.take(now)

    def count_refused(
        self, tenant: str, budget: BudgetName, retry_after: float, subject: str | None = None
    ) -> OverBudget:
        """Count and record an event refused outside the ledger, because a refusal of it
        said when the budget has a token again (`retry_after` seconds from now) and that
        time has not come: the transport refuses what a paused socket had read already.
        Returns the refusal to send."""
        limit = _limit_of(self.budgets(tenant), budget)
        return self._refuse(tenant, self._state(tenant), budget, limit, retry_after, subject)

    # -- runs -------------------------------------------------------------------------

    def start_run(self, tenant: str, run_id: str) -> None:
        """Count a new run of `tenant` in flight, or refuse it (`OverBudget`)."""
        state = self._state(tenant)
        limit = self.budgets(tenant).runs_in_flight
        if run_id in state.runs:
            return
        if limit is not None and len(state.runs) + self._runs_elsewhere(tenant) >= limit:
            raise self._refuse(tenant, state, "runs_in_flight", limit, COUNT_RETRY_S, run_id)
        state.runs.add(run_id)
        self._run_tenants[run_id] = tenant

    def adopt_run(self, tenant: str, run_id: str) -> None:
        """Count a run that was in flight already (resumed after a restart): never refused,
        so a restart loses no run even when budgets shrank meanwhile."""
        self._state(tenant).runs.add(run_id)
        self._run_tenants[run_id] = tenant

    def end_run(self, run_id: str) -> None:
        tenant = self._run_tenants.pop(run_id, None)
        state = self._tenants.get(tenant) if tenant is not None else None
        if state is not None:
            state.runs.discard(run_id)

    def reserve_run(self, tenant: str) -> None:
        """Refuse (`OverBudget`) when `tenant` could not start one more run now; counts
        nothing (a create checks before it writes the run, and counts it once written)."""
        state = self._state(tenant)
        limit = self.budgets(tenant).runs_in_flight
        if limit is not None and len(state.runs) + self._runs_elsewhere(tenant) >= limit:
            raise self._refuse(tenant, state, "runs_in_flight", limit, COUNT_RETRY_S, None)

    def run_tenant(self, run_id: str) -> str | None:
        return self._run_tenants.get(run_id)

    # -- provider calls ---------------------------------------------------------------

    def provider_wait(self, tenant: str) -> float:
        """Seconds until `tenant` may make its next provider call (0.0: now); takes and
        records nothing (a queue asks it for every waiting tenant at each turn)."""
        bucket = self._provider_bucket(tenant)
        return 0.0 if bucket is None else bucket.peek(self._clock.now())

    def provider_call(self, tenant: str) -> None:
        """Count one provider call of `tenant` (call it when the call starts, after
        `provider_wait` answered 0.0)."""
        bucket = self._provider_bucket(tenant)
        if bucket is not None:
            bucket.take(self._clock.now())

    def provider_throttled(self, tenant: str, subject: str | None, wait: float) -> None:
        """Record that a call of `tenant` (request `subject`) is held `wait` seconds for
        its ``provider_calls`` budget: a ``throttled`` event (once per held request)."""
        state = self._state(tenant)
        state.throttled += 1
        limit = self.budgets(tenant).provider_calls_per_min or 0.0
        self._record("throttled", tenant, "provider_calls", limit, wait, subject)

    def provider_refuse(self, tenant: str, subject: str | None = None) -> None:
        """Refuse (`OverBudget`) an explicit provider call `tenant` asks for now (a step
        submitted by hand) when its ``provider_calls`` budget has no call left."""
        wait = self.provider_wait(tenant)
        if wait > 0:
            limit = self.budgets(tenant).provider_calls_per_min or 0.0
            raise self._refuse(tenant, self._state(tenant), "provider_calls", limit, wait, subject)

    def weight(self, tenant: str) -> int:
        """`tenant`'s share where work waits (`Budgets.weight`)."""
        return self.budgets(tenant).weight

    def _provider_bucket(self, tenant: str) -> TokenBucket | None:
        budgets = self.budgets(tenant)
        per_min = budgets.provider_calls_per_min
        if per_min is None:
            return None
        state = self._state(tenant)
        bucket = state.provider
        if bucket is None:
            burst = budgets.provider_calls_burst or max(1.0, per_min)
            bucket = state.provider = TokenBucket(per_min / 60.0, burst, self._clock.now())
        return bucket

    # -- run steps ----------------------------------------------------------------------

    def steps_limited(self, tenant: str) -> bool:
        """Whether `tenant`'s steps can ever wait: its `steps_per_s` or the node's is set."""
        return (
            self.budgets(tenant).steps_per_s is not None
            or self._config.node.steps_per_s is not None
        )

    def step_wait(self, tenant: str) -> float:
        """Seconds until `tenant` may dispatch its next run step (0.0: now): the later of
        its own `steps` budget and the node's. Takes nothing."""
        return max(self.tenant_step_wait(tenant), self.node_step_wait())

    def tenant_step_wait(self, tenant: str) -> float:
        """Seconds until `tenant`'s own `steps` budget has a token (0.0: now, or none set)."""
        bucket = self._steps_bucket(tenant)
        return 0.0 if bucket is None else bucket.until_charge(self._clock.now())

    def node_step_wait(self) -> float:
        """Seconds until the node's `steps` budget has a token (0.0: now, or none set)."""
        node = self._node_bucket()
        return 0.0 if node is None else node.until_charge(self._clock.now())

    def take_steps(
        self, tenant: str, cost: int = 1, *, held: bool = False, ahead: bool = False
    ) -> None:
        """Count `cost` run steps of `tenant` dispatched now (after `step_wait` answered
        0.0), from its bucket and the node's; `held`: they waited for their turn first;
        `ahead`: they go before their turn (`StepTurns.hurry`), owing their tokens."""
        now = self._clock.now()
        state = self._state(tenant)
        state.steps += cost
        if held:
            state.steps_held += cost
        for bucket in (self._steps_bucket(tenant), self._node_bucket()):
            if bucket is not None:
                if ahead:
                    bucket.owe(now, cost)
                else:
                    bucket.charge(now, cost)

    def steps_throttled(self, tenant: str, subject: str | None, wait: float) -> None:
        """Record that `tenant`'s run steps start waiting `wait` seconds for their turn
        (its `steps` budget or the node's): a ``throttled`` event (once per wait, not per
        step: a tenant's steps wait in line together)."""
        state = self._state(tenant)
        state.throttled += 1
        limit = self.budgets(tenant).steps_per_s or self._config.node.steps_per_s or 0.0
        self._record("throttled", tenant, "steps", limit, wait, subject)

    def _steps_bucket(self, tenant: str) -> TokenBucket | None:
        budgets = self.budgets(tenant)
        rate = budgets.steps_per_s
        if rate is None:
            return None
        state = self._state(tenant)
        bucket = state.steps_bucket
        if bucket is None:
            burst = budgets.steps_burst or max(1.0, rate)
            bucket = state.steps_bucket = TokenBucket(rate, burst, self._clock.now())
        return bucket

    def _node_bucket(self) -> TokenBucket | None:
        if not self._node_steps_made:
            node = self._config.node
            if node.steps_per_s is not None:
                burst = node.steps_burst or max(1.0, node.steps_per_s)
                self._node_steps = TokenBucket(node.steps_per_s, burst, self._clock.now())
            self._node_steps_made = True
        return self._node_steps

    # -- the other nodes of a cluster --------------------------------------------------

    def local_usage(self) -> dict[str, tuple[int, int]]:
        """This node's live sessions and runs in flight of each tenant that has some
        (what a cluster's nodes tell each other: `set_peer_usage`)."""
        return {
            tenant: (state.sessions, len(state.runs))
            for tenant, state in self._tenants.items()
            if not state.idle
        }

    def set_peer_usage(self, node: str, usage: Mapping[str, tuple[int, int]]) -> None:
        """What node `node` last said it uses: (live sessions, runs in flight) per tenant,
        replacing what it said before. The count budgets are then cluster-wide: this
        node admits a session or a run only while its own plus every peer's are under the
        budget (specs/tenants.md §6)."""
        self._forget(node)
        kept = {t: (s, r) for t, (s, r) in usage.items() if s > 0 or r > 0}
        if not kept:
            return
        self._peers[node] = kept
        elsewhere = self._elsewhere
        for tenant, (sessions, runs) in kept.items():
            before = elsewhere.get(tenant, (0, 0))
            elsewhere[tenant] = (before[0] + sessions, before[1] + runs)

    def forget_peer(self, node: str) -> None:
        """Node `node` left the cluster (or went silent): its use no longer counts."""
        self._forget(node)

    def elsewhere(self, tenant: str) -> tuple[int, int]:
        """(live sessions, runs in flight) of `tenant` on the other nodes, as last heard."""
        return self._elsewhere.get(tenant, (0, 0))

    @property
    def peers(self) -> list[str]:
        """The nodes whose use counts here now."""
        return sorted(self._peers)

    def _forget(self, node: str) -> None:
        old = self._peers.pop(node, None)
        if old is None:
            return
        elsewhere = self._elsewhere
        for tenant, (sessions, runs) in old.items():
            left = elsewhere.get(tenant, (0, 0))
            rest = (left[0] - sessions, left[1] - runs)
            if rest == (0, 0):
                elsewhere.pop(tenant, None)
            else:
                elsewhere[tenant] = rest

    def _sessions_elsewhere(self, tenant: str) -> int:
        found = self._elsewhere.get(tenant)
        return 0 if found is None else found[0]

    def _runs_elsewhere(self, tenant: str) -> int:
        found = self._elsewhere.get(tenant)
        return 0 if found is None else found[1]

    # -- what operators read ----------------------------------------------------------

    def usage(self) -> list[TenantUsage]:
        """Every tenant the ledger knows, by id (with what other nodes use of it)."""
        return [
            TenantUsage(
                tenant,
                state.sessions,
                len(state.runs),
                dict(state.refused),
                state.throttled,
                self.budgets(tenant),
                self._sessions_elsewhere(tenant),
                self._runs_elsewhere(tenant),
                state.steps,
                state.steps_held,
            )
            for tenant, state in sorted(self._tenants.items())
        ]

    def events(self, after: int = 0) -> list[TenantEvent]:
        """The recorded events numbered after `after` (the ring keeps the newest)."""
        return [event for event in self._events if event.seq > after]

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with each new event; returns the function that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    # -- internals --------------------------------------------------------------------

    def _state(self, tenant: str) -> _TenantState:
        state = self._tenants.get(tenant)
        if state is None:
            if len(self._tenants) >= MAX_TRACKED:
                for known in [t for t, s in self._tenants.items() if s.idle]:
                    del self._tenants[known]
            state = self._tenants[tenant] = _TenantState()
        return state

    def _refuse(
        self,
        tenant: str,
        state: _TenantState,
        budget: BudgetName,
        limit: float,
        retry_after: float,
        subject: str | None,
    ) -> OverBudget:
        state.refused[budget] = state.refused.get(budget, 0) + 1
        self._record("refused", tenant, budget, limit, retry_after, subject)
        return OverBudget(tenant, budget, limit, retry_after)

    def _record(
        self,
        kind: EventKind,
        tenant: str,
        budget: BudgetName,
        limit: float,
        retry_after: float,
        subject: str | None,
    ) -> None:
        self._seq += 1
        event = TenantEvent(
            self._seq, self._clock.wall_ms(), kind, tenant, budget, limit, retry_after, subject
        )
        self._events.append(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a listener's bug must not refuse or admit anything
                logger.exception("tenant event listener failed")
