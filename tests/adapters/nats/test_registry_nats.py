"""The cluster-wide registry and remote tell/ask over a real NATS server (started by the test).

Each node is its own `ActorSystem` with its own NATS connection, as two processes would
be. A remote actor is an ordinary `ActorRef` (a proxy); its monitors get `Down` with the
remote reason, or `"noconnection"` when its node is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.nats import (
    MessageTypes,
    NameHeld,
    Register,
    RegistryInfo,
    RemoteCallFailed,
    RemoteExit,
    RemoteRegistry,
    UnknownMessageType,
    Unregister,
    WhereIs,
    connect_cluster,
    open_registry_bucket,
)
from lightflow_actors.adapters.nats._remote import Answer, Envelope, GetRegistryInfo
from lightflow_actors.kernel import (
    NOCONNECTION,
    Actor,
    ActorRef,
    Ask,
    AskTimeout,
    Down,
    Refused,
    Reply,
    handler,
)

from ._servers import NatsServer

pytestmark = pytest.mark.anyio

HEARTBEAT = 0.1
DOWN_AFTER = 0.6


class Inc(msgspec.Struct, frozen=True):
    by: int


class Total(msgspec.Struct, frozen=True):
    value: int
    owner: str


class Get(Ask[Total], frozen=True):
    pass


class Fail(Ask[int], frozen=True):
    pass


class Crash(msgspec.Struct, frozen=True):
    pass


class NotShared(Ask[int], frozen=True):
    pass


class Counter(Actor[Inc | Get | Fail | Crash | NotShared]):
    def __init__(self, owner: str) -> None:
        self.owner, self.value = owner, 0

    @handler
    def inc(self, msg: Inc) -> None:
        self.value += msg.by

    @handler
    def get(self, msg: Get) -> Total:
        return Total(self.value, self.owner)

    @handler
    def fail(self, msg: Fail) -> int:
        raise Refused("no such thing", "not_found")

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("boom")

    @handler
    def not_shared(self, msg: NotShared) -> int:
        return 1


class Downs(Ask[list[Down]], frozen=True):
    pass


class Watcher(Actor[Down | Downs]):
    def __init__(self) -> None:
        self.downs: list[Down] = []

    @handler
    def down(self, msg: Down) -> None:
        self.downs.append(msg)

    @handler
    def seen(self, msg: Downs) -> list[Down]:
        return list(self.downs)


TYPES = MessageTypes(Inc, Get, Fail, Crash)


@dataclass
class Node:
    name: str
    system: ActorSystem
    client: Client
    registry: ActorRef[object]

    async def whereis(self, name: str) -> ActorRef[object] | None:
        return await self.registry.ask(WhereIs(name))  # type: ignore[arg-type,no-any-return]

    async def register(self, name: str, ref: ActorRef[object]) -> None:
        await self.registry.ask(Register(name, ref))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def node(
    server: NatsServer, name: str, types: MessageTypes | None = None
) -> AsyncIterator[Node]:
    client = await connect_cluster(server.url, node=name)
    kv = await open_registry_bucket(client)
    try:
        async with ActorSystem() as system:
            registry = await system.start_actor(
                lambda: RemoteRegistry(
                    client, kv, name, types or TYPES, heartbeat_s=HEARTBEAT, down_after_s=DOWN_AFTER
                )
            )
            yield Node(name, system, client, registry)  # type: ignore[arg-type]
    finally:
        with contextlib.suppress(Exception):
            await client.close()


async def eventually(check: Callable[[], object], what: str, within: float = 20.0) -> None:
    """Poll `check` until truthy; the bound only stops a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_name_registered_on_one_node_resolves_and_answers_on_another(
    nats_server: NatsServer,
) -> None:
    async with node(nats_server, "a") as a, node(nats_server, "b") as b:
        counter = a.system.spawn(lambda: Counter("a"))
        await a.register("counter", counter)  # type: ignore[arg-type]
        assert await a.whereis("counter") == counter  # its own node: the actor itself
        remote = await b.whereis("counter")
        assert remote is not None and remote != counter
        assert await b.whereis("counter") == remote  # one proxy per remote actor
        remote.tell(Inc(2))
        remote.tell(Inc(3))
        total = await remote.ask(Get())  # type: ignore[arg-type]
        assert total == Total(5, "a")  # the reply decoded as the Ask's declared type
        with pytest.raises(Refused, match="no such thing"):
            await remote.ask(Fail())  # type: ignore[arg-type]
        assert await b.whereis("nobody") is None
        # a name has one holder in the whole cluster
        with pytest.raises(NameHeld):
            await b.register("counter", b.system.spawn(lambda: Counter("b")))  # type: ignore[arg-type]
        assert await a.registry.ask(Unregister("counter")) is True  # type: ignore[arg-type]
        assert await b.whereis("counter") is None
        await b.register("counter", b.system.spawn(lambda: Counter("b")))  # type: ignore[arg-type]
        again = await a.whereis("counter")
        assert again is not None
        assert await again.ask(Get()) == Total(0, "b")  # type: ignore[arg-type]


async def test_types_outside_the_table_are_refused_typed(nats_server: NatsServer) -> None:
    async with node(nats_server, "a") as a, node(nats_server, "b") as b:
        await a.register("counter", a.system.spawn(lambda: Counter("a")))  # type: ignore[arg-type]
        remote = await b.whereis("counter")
        assert remote is not None
        with pytest.raises(UnknownMessageType, match="NotShared"):
            await remote.ask(NotShared())  # type: ignore[arg-type]
        assert remote.alive  # a refusal, not a crash
        # the serving side refuses a type name it does not know, by kind
        envelope = Envelope("counter", "no.such.Type", msgspec.Raw(b"\x80"), ask=True)
        reply = await b.client.request("lf.actor.a", msgspec.msgpack.encode(envelope), timeout=5)
        answer = msgspec.msgpack.decode(reply.data, type=Answer)
        assert (answer.ok, answer.kind) == (False, "unknown_type")
        assert "no.such.Type" in answer.detail


async def test_a_remote_exit_reaches_local_monitors_with_its_reason(
    nats_server: NatsServer,
) -> None:
    async with node(nats_server, "a") as a, node(nats_server, "b") as b:
        calm = a.system.spawn(lambda: Counter("a"))
        wild = a.system.spawn(lambda: Counter("a"))
        await a.register("calm", calm)  # type: ignore[arg-type]
        await a.register("wild", wild)  # type: ignore[arg-type]
        calm_proxy, wild_proxy = await b.whereis("calm"), await b.whereis("wild")
        assert calm_proxy is not None and wild_proxy is not None
        watcher = b.system.spawn(Watcher)
        m_calm = b.system.monitor(watcher, calm_proxy)
        m_wild = b.system.monitor(watcher, wild_proxy)
        await calm.stop()
        wild.tell(Crash())
        downs = await _downs(watcher, 2)
        reasons = {d.monitor: d.reason for d in downs}
        assert reasons[m_calm] == "normal"
        crashed = reasons[m_wild]
        assert isinstance(crashed, RemoteExit) and "boom" in str(crashed)
        assert await b.whereis("calm") is None  # the exit released the name


async def _downs(watcher: ActorRef[Down | Downs], count: int) -> list[Down]:
    """The watcher's Down messages once it has `count` of them (the bound stops a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while len(downs := await watcher.ask(Downs())) < count:
        assert loop.time() < deadline, f"only {len(downs)} Down of {count}"
        await asyncio.sleep(0.02)
    return downs


async def test_a_starved_node_does_not_cut_its_live_peers_off(nats_server: NatsServer) -> None:
    """This process stands still for several lease periods (a loaded machine starving
    it: every node here shares its loop). When it runs again its registry's tick comes
    late, every peer's heartbeat still queued: the silence is its own, so no peer is
    judged down and no proxy is cut off (`noconnection`, each remote ask in flight failed:
    the drill's forwarded creates answered 503 on a loaded machine)."""
    async with node(nats_server, "b") as b, node(nats_server, "a") as a:
        await a.register("counter", a.system.spawn(lambda: Counter("a")))  # type: ignore[arg-type]
        remote = await b.whereis("counter")
        assert remote is not None
        watcher = b.system.spawn(Watcher)
        b.system.monitor(watcher, remote)
        # blocks the loop on purpose: what a loaded machine does to a node
        time.sleep(3 * DOWN_AFTER)  # noqa: ASYNC251
        for _ in range(2 * round(DOWN_AFTER / HEARTBEAT)):  # two lease periods of ticks
            total = await remote.ask(Get(), timeout=30)  # type: ignore[arg-type]
            assert total == Total(0, "a")
            await asyncio.sleep(HEARTBEAT)
        info: RegistryInfo = await b.registry.ask(GetRegistryInfo())  # type: ignore[arg-type]
        assert "a" not in info.nodes_down and "a" in info.nodes_up, info
        assert remote.alive
        assert await watcher.ask(Downs()) == []  # type: ignore[arg-type]


async def test_a_lost_node_gives_noconnection_and_frees_its_names(
    nats_server: NatsServer,
) -> None:
    async with node(nats_server, "b") as b, node(nats_server, "a") as a:
        await a.register("counter", a.system.spawn(lambda: Counter("a")))  # type: ignore[arg-type]
        remote = await b.whereis("counter")
        assert remote is not None
        watcher = b.system.spawn(Watcher)
        monitor = b.system.monitor(watcher, remote)
        # node a vanishes as under kill -9: its connection drops, no goodbye, no cleanup
        await a.client.close()
        (down,) = await _downs(watcher, 1)
        assert (down.monitor, down.reason) == (monitor, NOCONNECTION)
        info: RegistryInfo = await b.registry.ask(GetRegistryInfo())  # type: ignore[arg-type]
        assert "a" in info.nodes_down
        # the name of a node that is down resolves to nothing, and may be taken
        assert await b.whereis("counter") is None
        await b.register("counter", b.system.spawn(lambda: Counter("b")))  # type: ignore[arg-type]


async def test_losing_nats_gives_noconnection_to_every_remote_monitor(
    nats_server: NatsServer,
) -> None:
    async with node(nats_server, "a") as a, node(nats_server, "b") as b:
        await a.register("one", a.system.spawn(lambda: Counter("a")))  # type: ignore[arg-type]
        await a.register("two", a.system.spawn(lambda: Counter("a")))  # type: ignore[arg-type]
        one, two = await b.whereis("one"), await b.whereis("two")
        assert one is not None and two is not None
        watcher = b.system.spawn(Watcher)
        b.system.monitor(watcher, one)
        b.system.monitor(watcher, two)
        nats_server.stop()
        downs = await _downs(watcher, 2)
        assert [d.reason for d in downs] == [NOCONNECTION, NOCONNECTION]


async def test_a_remote_graceful_stop_is_noconnection_at_once(nats_server: NatsServer) -> None:
    async with node(nats_server, "b") as b:
        async with node(nats_server, "a") as a:
            await a.register("counter", a.system.spawn(lambda: Counter("a")))  # type: ignore[arg-type]
            remote = await b.whereis("counter")
            assert remote is not None
            watcher = b.system.spawn(Watcher)
            b.system.monitor(watcher, remote)
            await a.registry.stop()  # says goodbye: names released, peers told
        (down,) = await _downs(watcher, 1)
        assert down.reason in (NOCONNECTION, "shutdown")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda t, body, ask: msgspec.msgpack.encode(
                Envelope("counter", t, msgspec.Raw(body), ask)
            ),
            st.sampled_from(
                [
                    "no.such.Type",
                    f"{Inc.__module__}.Inc",
                    f"{Get.__module__}.Get",
                    "a" * 300,
                ]
            ),
            st.one_of(
                st.binary(max_size=60),
                st.just(msgspec.msgpack.encode({"by": "x"})),
                st.just(b"\x91" * 200 + b"\x80"),
            ),
            st.booleans(),
        ),
    )
)
def _collect_hostile(data: bytes) -> None:
    _HOSTILE.append(data)


_HOSTILE: list[bytes] = []


async def test_hostile_envelopes_over_nats(nats_server: NatsServer) -> None:
    _HOSTILE.clear()
    _collect_hostile()
    async with node(nats_server, "a") as a, node(nats_server, "b") as b:
        counter = a.system.spawn(lambda: Counter("a"))
        await a.register("counter", counter)  # type: ignore[arg-type]
        for data in _HOSTILE:
            reply = await b.client.request("lf.actor.a", data, timeout=5)
            answer = msgspec.msgpack.decode(reply.data, type=Answer)
            if answer.ok:  # a well-formed Get: answered
                assert msgspec.msgpack.decode(answer.value, type=Total).owner == "a"
            else:
                assert answer.kind in ("malformed", "unknown_type")
                assert answer.detail
        assert counter.alive
        remote = await b.whereis("counter")
        assert remote is not None
        assert (await remote.ask(Get())).owner == "a"  # type: ignore[arg-type]


class Hold(Ask[int], frozen=True):
    pass


class Release(msgspec.Struct, frozen=True):
    value: int


class HeldLeft(Ask[list[float | None]], frozen=True):
    pass


class Holder(Actor[Hold | Release | HeldLeft]):
    """Answers `Hold` asks only on `Release`; records each asker's time left."""

    def __init__(self) -> None:
        self.held: list[Reply[int]] = []
        self.left: list[float | None] = []

    @handler
    def hold(self, msg: Hold) -> None:
        reply = self.defer(msg)
        self.left.append(reply.time_left())
        self.held.append(reply)

    @handler
    def release(self, msg: Release) -> None:
        for reply in self.held:
            reply.send(msg.value)
        self.held.clear()

    @handler
    def seen(self, msg: HeldLeft) -> list[float | None]:
        return list(self.left)


HOLD_TYPES = MessageTypes(Hold, Release, HeldLeft)


async def test_a_remote_ask_waits_as_long_as_its_caller(nats_server: NatsServer) -> None:
    """The proxy takes the caller's timeout (no fixed 5 s): the serving node's local ask
    gets what is left of it, and without a timeout the ask waits until answered."""
    async with (
        node(nats_server, "a", HOLD_TYPES) as a,
        node(nats_server, "b", HOLD_TYPES) as b,
    ):
        holder = a.system.spawn(Holder)
        await a.register("holder", holder)  # type: ignore[arg-type]
        remote = await b.whereis("holder")
        assert remote is not None
        long = remote.ask(Hold(), timeout=60.0)  # type: ignore[arg-type]
        endless = remote.ask(Hold(), timeout=None)  # type: ignore[arg-type]
        left: list[float | None] = []
        for _ in range(1000):  # bounds a hang only
            left = await holder.ask(HeldLeft())
            if len(left) == 2:
                break
            await asyncio.sleep(0.02)
        long_left, endless_left = left
        # the serving node waits what is left of the caller's 60 s, far past the old 5 s
        assert long_left is not None and 5.0 < long_left <= 60.0
        assert endless_left is not None and endless_left > 60.0  # no caller timeout
        remote.tell(Release(7))
        assert await long == 7 and await endless == 7
        # a short timeout is the caller's too: the serving side gives up with it
        with pytest.raises((AskTimeout, RemoteCallFailed)):
            await remote.ask(Hold(), timeout=0.5)  # type: ignore[arg-type]
        short_left = (await holder.ask(HeldLeft()))[-1]  # type: ignore[arg-type]
        assert short_left is not None and 0 < short_left <= 0.5
