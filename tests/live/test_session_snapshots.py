"""Sessions that survive their node: snapshots in a store shared by two hubs ("nodes"),
rehydration on rejoin, the `remount` policy, fencing of a stale owner, the per-field
opt-out, and bad snapshots. The store is `InMemorySessionStore` (the executable contract
of the NATS one); two hubs share its `SessionBook` and their token secret, as the nodes
of a cluster do."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import msgspec
import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import start_transport
from lightflow_actors.kernel import Actor, AnyRef, Ask, Down, handler
from lightflow_actors.live import (
    Info,
    InMemorySessionStore,
    LiveHub,
    LiveView,
    Params,
    Rendered,
    SessionBook,
    SessionInfo,
    SessionSnapshot,
    StaleSessionOwner,
    SubscribeTo,
    Template,
    Update,
    ViewDefinitionError,
    snapshot_key,
)
from lightflow_actors.live._snapshot import StateCodec
from lightflow_actors.live_examples.tally import TallyState, tally
from lightflow_actors.testing.live import LiveViewHandle, MemorySocket

SECRET = b"one secret for the whole cluster"


class Bump(msgspec.Struct, frozen=True, tag="bump"):
    pass


class Remounting(LiveView[int, Bump]):
    rejoin = "remount"

    def mount(self, params: Params, session: SessionInfo) -> int:
        return 100

    def handle_event(self, event: Bump, state: int) -> int:
        return state + 1

    def render(self, state: int) -> Rendered:
        return Template('<b id="n">{n}</b>')(n=state)


class Handle:
    """Something that cannot be serialised (an open file, an actor ref...)."""


class WithCache(msgspec.Struct):
    count: int = 0
    cache: object = None  # holds a Handle: left out of snapshots


class Cached(LiveView[WithCache, Bump]):
    transient = frozenset({"cache"})

    def mount(self, params: Params, session: SessionInfo) -> Update[WithCache]:
        return Update(WithCache(cache=Handle()), (SubscribeTo(topic="news"),))

    def handle_event(self, event: Bump, state: WithCache) -> WithCache:
        return WithCache(state.count + 1, state.cache or Handle())

    def handle_info(self, message: object, state: WithCache) -> WithCache:
        return WithCache(state.count + 10, state.cache)

    def render(self, state: WithCache) -> Rendered:
        return Template('<b id="n">{n}</b><i id="c">{c}</i>')(
            n=state.count, c="cached" if state.cache is not None else "cold"
        )


class Unkeepable(LiveView[object, Bump]):
    def mount(self, params: Params, session: SessionInfo) -> object:
        return {"n": 0, "handle": Handle()}

    def handle_event(self, event: Bump, state: object) -> object:
        assert isinstance(state, dict)
        return {**state, "n": state["n"] + 1}

    def render(self, state: object) -> Rendered:
        assert isinstance(state, dict)
        return Template('<b id="n">{n}</b>')(n=state["n"])


VIEWS = {"tally": tally, "again": Remounting(), "cached": Cached(), "odd": Unkeepable()}


async def node(system: ActorSystem, book: SessionBook, name: str) -> LiveHub:
    """Node `name`'s hub on `system` (one system per node: the hubs share their name,
    hence their token key, as the nodes of a cluster do)."""
    hub = LiveHub(system, VIEWS, secret=SECRET, session_store=InMemorySessionStore(book, name))
    await hub.start()
    return hub


async def browser(
    hub: LiveHub, view: str, session_id: str, token: str, params: Mapping[str, str] | None = None
) -> LiveViewHandle:
    """A browser (re)joining `view` as `session_id` on `hub`, as the client script does."""
    socket = MemorySocket()
    transport = await start_transport(hub, socket)
    handle = LiveViewHandle(hub, transport, socket)
    handle.view = view
    await handle.send_raw(handle.client.hello())
    renders = handle.client.renders
    await handle._join(view, session_id, token, params or {})
    await handle.wait_for(lambda: handle.client.renders > renders, f"the render of {view}")
    return handle


async def first_visit(hub: LiveHub, view: str) -> tuple[LiveViewHandle, str, str]:
    page = await hub.static_render(view, {})
    return await browser(hub, view, page.session_id, page.token), page.session_id, page.token


async def written(book: SessionBook, key: str, check: object) -> SessionSnapshot:
    for _ in range(200):
        record = book.records.get(key)
        if record is not None and check(record.snapshot):  # type: ignore[operator]
            return record.snapshot
        await asyncio.sleep(0)
    raise AssertionError(f"no snapshot of {key} as expected: {book.records.get(key)}")


def count_of(handle: LiveViewHandle) -> str:
    html = handle.html()
    return html.split('id="count">', 1)[1].split("<", 1)[0]


@pytest.mark.deterministic(seeds=10, strategy="random")
async def test_a_session_continues_on_another_node_from_its_snapshot(
    sim_system: ActorSystem,
) -> None:
    book = SessionBook()
    async with ActorSystem("node-b") as system_b:
        await on_two_nodes(sim_system, system_b, book)


async def on_two_nodes(system_a: ActorSystem, system_b: ActorSystem, book: SessionBook) -> None:
    a, b = await node(system_a, book, "a"), await node(system_b, book, "b")
    on_a, session_id, token = await first_visit(a, "tally")
    for _ in range(7):
        await on_a.click("add", id="add")
    await on_a.wait_for(lambda: count_of(on_a) == "7", "7 on node a")
    key = snapshot_key(session_id, "tally")
    snap = await written(book, key, lambda s: b"\x07" in s.state)
    assert msgspec.msgpack.decode(snap.state, type=TallyState) == TallyState(7, 7)
    assert snap.owner == "a" and snap.view == "tally"
    await a.stop()  # node a is gone (its sessions with it)

    on_b = await browser(b, "tally", session_id, token)
    assert count_of(on_b) == "7"  # rehydrated, not mounted again (mount gives 0)
    await on_b.click("add", id="add")
    await on_b.wait_for(lambda: count_of(on_b) == "8", "8 on node b")
    snap = await written(book, key, lambda s: s.owner == "b" and b"\x08" in s.state)
    assert msgspec.msgpack.decode(snap.state, type=TallyState) == TallyState(8, 8)


@pytest.mark.anyio
async def test_a_remount_view_is_mounted_again_on_rejoin() -> None:
    book = SessionBook()
    async with ActorSystem("node-a") as system, ActorSystem("node-b") as system_b:
        a, b = await node(system, book, "a"), await node(system_b, book, "b")
        on_a, session_id, token = await first_visit(a, "again")
        await on_a.push("bump", {})
        await on_a.wait_for(lambda: 'id="n">101<' in on_a.html(), "101")
        on_b = await browser(b, "again", session_id, token)
        assert 'id="n">100<' in on_b.html()
        assert not any(k.endswith(".again") for k in book.records)  # nothing was written


@pytest.mark.deterministic(seeds=10, strategy="random")
async def test_a_stale_owner_is_fenced_and_its_session_stops(sim_system: ActorSystem) -> None:
    book = SessionBook()
    async with ActorSystem("node-b") as system_b:
        await fenced_on_two_nodes(sim_system, system_b, book)


async def fenced_on_two_nodes(
    sim_system: ActorSystem, system_b: ActorSystem, book: SessionBook
) -> None:
    a, b = await node(sim_system, book, "a"), await node(system_b, book, "b")
    on_a, session_id, token = await first_visit(a, "cached")
    await on_a.push("bump", {})
    key = snapshot_key(session_id, "cached")
    await written(book, key, lambda s: s.owner == "a" and s.topics == ("news",))
    [stale] = await a.sessions()
    # The browser moved to node b (a partition: node a and its session live on).
    on_b = await browser(b, "cached", session_id, token)
    assert 'id="n">1<' in on_b.html()
    assert 'id="c">cold<' in on_b.html()  # the transient field came back at its default
    revision = book.records[key].revision
    # node a's session wakes up with a message that changes its state: its write is
    # refused (fenced by the revision) and it stops
    watcher = sim_system.spawn(ExitWatcher)
    await watcher.ask(Watch(stale))
    stale.tell(Info("a late message"))  # type: ignore[arg-type]
    await sim_system.wait_exit(stale)
    assert await watcher.ask(Reason()) == ("shutdown", "fenced")
    assert book.records[key].revision == revision  # the new owner's snapshot stands
    assert book.records[key].snapshot.owner == "b"
    await on_b.push("bump", {})
    await on_b.wait_for(lambda: 'id="n">2<' in on_b.html(), "2 on node b")
    await written(book, key, lambda s: s.owner == "b" and s.state != b"")


class Watch(Ask[None], frozen=True):
    ref: AnyRef


class Reason(Ask[object], frozen=True):
    pass


class ExitWatcher(Actor[Watch | Reason | Down]):
    def __init__(self) -> None:
        self.reason: object = None

    @handler
    def watch(self, msg: Watch) -> None:
        self.monitor(msg.ref)

    @handler
    def down(self, msg: Down) -> None:
        self.reason = msg.reason

    @handler
    def get(self, msg: Reason) -> object:
        return self.reason


def test_the_store_refuses_a_write_of_a_stale_owner_with_a_typed_error() -> None:
    async def scenario() -> None:
        book = SessionBook()
        a, b = InMemorySessionStore(book, "a"), InMemorySessionStore(book, "b")
        assert await a.claim("s.v") is None
        refused: list[StaleSessionOwner] = []
        a.save("s.v", SessionSnapshot(view="v", state=b"\x01", owner="a"), refused.append)
        await asyncio.sleep(0)
        first = book.records["s.v"].revision
        claimed = await b.claim("s.v")
        assert claimed is not None and claimed.state == b"\x01"
        a.save("s.v", SessionSnapshot(view="v", state=b"\x02", owner="a"), refused.append)
        await asyncio.sleep(0)
        [error] = refused
        assert (error.key, error.owner, error.expected) == ("s.v", "a", first)
        assert error.found == book.records["s.v"].revision
        assert "another owner claimed it" in str(error)
        assert book.records["s.v"].snapshot.state == b"\x01"

    asyncio.run(scenario())


@pytest.mark.anyio
async def test_unserialisable_state_is_not_kept_and_the_session_goes_on() -> None:
    book = SessionBook()
    async with ActorSystem("node-a") as system, ActorSystem("node-b") as system_b:
        a, b = await node(system, book, "a"), await node(system_b, book, "b")
        on_a, session_id, token = await first_visit(a, "odd")
        await on_a.push("bump", {})
        await on_a.wait_for(lambda: 'id="n">1<' in on_a.html(), "1")
        assert snapshot_key(session_id, "odd") not in book.records
        on_b = await browser(b, "odd", session_id, token)
        assert 'id="n">0<' in on_b.html()  # mounted again


@pytest.mark.anyio
@pytest.mark.parametrize(
    "state",
    [b"", b"\xc1", b"\x92\x01", b"\xa3abc", b"\x81\xa5count\xa1x", b"\xdd\xff\xff\xff\xff"],
)
async def test_a_snapshot_that_does_not_decode_mounts_the_view_again(state: bytes) -> None:
    book = SessionBook()
    async with ActorSystem("nodes") as system:
        b = await node(system, book, "b")
        page = await b.static_render("tally", {})
        key = snapshot_key(page.session_id, "tally")
        book.update(key, SessionSnapshot(view="tally", state=state, owner="x"), 0)
        on_b = await browser(b, "tally", page.session_id, page.token)
        assert count_of(on_b) == "0"
        await on_b.click("add", id="add")
        await written(book, key, lambda s: s.owner == "b")


@pytest.mark.anyio
async def test_a_snapshot_of_another_view_is_not_used() -> None:
    book = SessionBook()
    async with ActorSystem("nodes") as system:
        b = await node(system, book, "b")
        page = await b.static_render("tally", {})
        key = snapshot_key(page.session_id, "tally")
        book.update(key, SessionSnapshot(view="other", state=b"\x92\x07\x07", owner="x"), 0)
        on_b = await browser(b, "tally", page.session_id, page.token)
        assert count_of(on_b) == "0"


@pytest.mark.anyio
async def test_without_a_reachable_store_sessions_mount_and_work() -> None:
    book = SessionBook()
    book.available = False
    async with ActorSystem("nodes") as system:
        b = await node(system, book, "b")
        on_b, _, _ = await first_visit(b, "tally")
        await on_b.click("add", id="add")
        await on_b.wait_for(lambda: count_of(on_b) == "1", "1")


def test_transient_fields_must_exist_and_have_defaults() -> None:
    class NoDefault(msgspec.Struct):
        handle: object

    class Bad(LiveView[NoDefault, Bump]):
        transient = frozenset({"handle"})

    class Missing(LiveView[WithCache, Bump]):
        transient = frozenset({"nope"})

    class NotAStruct(LiveView[int, Bump]):
        transient = frozenset({"x"})

    for view, needle in (
        (Bad, "needs a default"),
        (Missing, "no field 'nope'"),
        (NotAStruct, "msgspec.Struct"),
    ):
        with pytest.raises(ViewDefinitionError, match=needle):
            StateCodec(view)


def test_keys_are_valid_for_a_key_value_bucket() -> None:
    import re

    for session_id, view in (("0123abcd", "tally"), ("x y/é", "vue.ü"), ("", "")):
        key = snapshot_key(session_id, view)
        assert re.fullmatch(r"[-/_=.a-zA-Z0-9]+", key), key
    assert snapshot_key("a", "b.c") != snapshot_key("a.b", "c")
