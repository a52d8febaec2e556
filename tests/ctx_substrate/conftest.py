"""Fixtures for the CortexFS tests: a running substrate on a temp tree, on each backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import msgspec
import pytest

from ctx_substrate import (
    AuditEvent,
    Policy,
    ProviderRequest,
    ProviderSpec,
    Routes,
    Stats,
    Substrate,
    SubstrateConfig,
    SubstrateMessage,
    callable_provider,
    read_audit,
)
from ctx_substrate._fuse_probe import FuseUnavailable, fuse_available
from lightflow_actors import ActorExited, ActorRef, ActorSystem, StartFailed
from lightflow_actors.adapters.cortex import ClientWatch, CortexClient
from lightflow_actors.cortex import Call, Commit, CtxLayout, Observe
from lightflow_actors.tenants import TenantLedger, TenantsConfig

UID = "1000"


def echo(request: ProviderRequest) -> dict[str, object]:
    return {"id": request.id, "kind": request.kind, "target": request.target, "body": request.body}


class Ctx:
    """One running substrate and what a test needs to talk to it."""

    def __init__(
        self,
        system: ActorSystem,
        backing: Path,
        mount: Path,
        substrate: ActorRef[SubstrateMessage],
        client: ActorRef[Commit | Observe | Call],
    ) -> None:
        self.system = system
        self.backing = backing  # where the substrate keeps files
        self.mount = mount  # where clients see them (the same folder, or the FUSE mount)
        self.substrate = substrate
        self.client = client
        self.layout = CtxLayout(str(mount), UID)
        self.tenants: TenantLedger | None = None  # with `start_ctx(tenants=...)`

    def audit(self) -> list[AuditEvent]:
        return read_audit(self.backing / "audit" / "events.jsonl")

    async def until(self, predicate: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
        """Wait for `predicate`, then for the substrate's file jobs under way (an answer is
        written before its claim is closed and audited, on a worker thread: ADR 0119);
        `limit_s` only bounds a hang, it asserts nothing about speed."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit_s
        while not predicate():
            if loop.time() > end:
                raise AssertionError(f"gave up waiting for {what}")
            await asyncio.sleep(0.005)
        await self.settled(limit_s, in_flight=False)

    async def settled(self, limit_s: float = 20.0, *, in_flight: bool = True) -> None:
        """Wait until the substrate has no file job unsettled (and, with `in_flight`,
        no request at a provider): its files are written on worker threads (ADR 0119),
        so an answer a client sees may still have its claim to close and its audit line
        to append. A substrate that is not running has nothing to settle."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit_s
        while True:
            if not self.system.running or not self.substrate.alive:
                return
            try:
                stats = await self.substrate.ask(Stats(), timeout=limit_s)
            except ActorExited:
                return
            if (stats.in_flight == 0 or not in_flight) and stats.io_unsettled == 0:
                return
            if loop.time() > end:
                raise AssertionError(f"the substrate did not settle: {stats}")
            await asyncio.sleep(0.005)


@pytest.fixture
async def start_ctx(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """`await start_ctx(providers=..., routes=..., policy=..., tenants=..., **config)` → `Ctx`
    (with `tenants`, the substrate's provider hosts use a `TenantLedger` of those budgets).

    Every started system is shut down at the end of the test; `ctx.system` may also be
    shut down earlier to simulate a substrate restart.
    """
    systems: list[ActorSystem] = []

    async def start(
        providers: Sequence[ProviderSpec] = (),
        routes: Routes | None = None,
        policy: Policy | None = None,
        root: Path | None = None,
        backend: str = "directory",
        tenants: TenantsConfig | None = None,
        **config: object,
    ) -> Ctx:
        backing = root or tmp_path / "ctx"
        mount = backing
        if backend == "fuse":
            reason = fuse_available()
            if reason is not None:
                pytest.skip(f"FUSE backend: {reason}")
            mount = tmp_path / f"mnt{len(systems)}"
            config["mount"] = str(mount)
        cfg = msgspec.convert(
            {
                "root": str(backing),
                "uids": [UID],
                "tools": ["echo"],
                "threads": ["t1"],
                "rescan_interval_s": 0.5,
                **config,
            },
            SubstrateConfig,
        )
        cfg = msgspec.structs.replace(
            cfg,
            routes=routes or Routes(api={"*": "echo"}, tool={"*": "echo"}, thread={"*": "echo"}),
            policy=policy or Policy.allow_all(),
        )
        specs = list(providers) or [callable_provider("echo", echo)]
        system = ActorSystem()
        await system.start()
        systems.append(system)
        ledger = None if tenants is None else TenantLedger(tenants, clock=system.clock)
        try:
            substrate = await system.start_actor(lambda: Substrate(cfg, specs, tenants=ledger))
        except StartFailed as exc:
            if backend == "fuse" and isinstance(exc.reason, FuseUnavailable):
                pytest.skip(f"FUSE backend: {exc}")
            raise
        # On FUSE the client cannot rely on inotify (the server's writes bypass the mount).
        watch: ClientWatch = "poll" if backend == "fuse" else "inotify"
        client = system.spawn(
            lambda: CortexClient(CtxLayout(str(mount), UID), watch=watch, poll_interval_s=0.01)
        )
        ctx = Ctx(system, backing, mount, substrate, client)
        ctx.tenants = ledger
        return ctx

    yield start
    for system in reversed(systems):
        await system.shutdown()
