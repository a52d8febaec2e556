"""The observer on a clustered node: a cluster summary (one row per node, its counts) and a
node selector that shows a peer's tree in the tree pane, driven by the test DSL. The
peer's tree is a real one (another actor system running the demo tree); the feed is a
stub that answers with it, as the real feed does once it read it over NATS (the NATS
path itself: tests/adapters/nats/test_cluster_serve.py)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors import Actor, ActorSystem, handler
from lightflow_actors.adapters.http import Guard, RateWindow, start_demo, tree_nodes
from lightflow_actors.live import Publish
from lightflow_actors.live._pubsub import PubSubServer
from lightflow_actors.observer import GetSnapshot, ObserverView, TreeSnapshot
from lightflow_actors.observer._feed import (
    TREE_TOPIC,
    ClusterNodeRow,
    ObservedActor,
    counted,
    observe,
    observed,
)
from lightflow_actors.observer._state import NODE_NAME, ObserverState, node_param, with_params
from lightflow_actors.testing.live import LiveViewHandle, live_test

from .test_view import ROW

pytestmark = pytest.mark.anyio


class StubFeed(Actor[GetSnapshot]):
    def __init__(self, snapshot: TreeSnapshot) -> None:
        self.snapshot = snapshot

    @handler
    def get(self, msg: GetSnapshot) -> TreeSnapshot:
        return self.snapshot


def labels(view: LiveViewHandle) -> set[str]:
    return {label for _, label, _, _ in ROW.findall(view.html())}


async def peer_tree() -> tuple[ObservedActor, ...]:
    async with ActorSystem("peer-b") as peer:
        await start_demo(peer)
        return observed(tree_nodes(peer), {})


async def test_the_node_selector_shows_a_peer_tree_and_the_summary_counts_each_node() -> None:
    tree = await peer_tree()
    assert any(a.child_id == "pool" for a in tree)
    async with ActorSystem("node-a") as system:
        own = observe(system, RateWindow(), (), 1)
        nodes = (
            counted(ClusterNodeRow("a", "self"), own.actors, len(own.actors)),
            msgspec.structs.replace(
                counted(ClusterNodeRow("b", "up"), tree, len(tree) + 5), tree=tree
            ),
            ClusterNodeRow("c", "down"),
            ClusterNodeRow("d", "up", problem="node 'd' did not answer: ask timed out"),
        )
        snapshot = msgspec.structs.replace(own, nodes=nodes)
        feed = await system.start_actor(lambda: StubFeed(snapshot), name="stub-feed")
        views = {"observer": ObserverView(lambda: feed, Guard(None))}
        async with live_test(views, system=system) as live:
            view = await live.mount("observer")
            html = view.html()
            assert "4 nodes · 3 up" in html
            assert 'id="node-a" class="cluster-node self selected"' in html  # shown now
            assert f'<td data-field="actors">{len(own.actors)}</td>' in html
            assert f'<td data-field="actors">{len(tree) + 5}</td>' in html
            assert f"first {len(tree)} actors counted" in html  # b's count is partial
            assert "its heartbeat stopped" in html and "did not answer" in html
            assert "pool" not in labels(view)  # this node runs no demo

            await view.change("node", {"node": "b"})
            await view.wait_for(lambda: "Supervision tree of node b" in view.html(), "b's tree")
            assert {"demo", "pool", "ticker"} <= labels(view)
            assert 'id="node-b" class="cluster-node up selected"' in view.html()
            assert view.assert_patch() == {"node": "b"}  # the URL names the node

            pool = next(a for a in tree if a.child_id == "pool")
            await view.live_patch({"node": "b", "actor": str(pool.id)})
            await view.wait_for(lambda: 'data-field="child id">pool<' in view.html(), "detail")
            assert 'id="act-kill"' not in view.html()  # actions act on this node only
            assert "open that node&#39;s own observer" in view.html()

            # A new snapshot moves b's counts live: one more crash, one restart.
            crashed = tuple(
                msgspec.structs.replace(a, restarts=a.restarts + 1, last_crash="boom")
                if a.id == pool.id
                else a
                for a in tree
            )
            row_b = msgspec.structs.replace(
                counted(ClusterNodeRow("b", "up"), crashed, len(crashed)), tree=crashed
            )
            newer = msgspec.structs.replace(
                snapshot, version=2, nodes=(nodes[0], row_b, *nodes[2:])
            )
            pubsub = system.lookup(f"{live.hub.name}.pubsub", PubSubServer)
            pubsub.tell(Publish(TREE_TOPIC, newer))
            await view.wait_for(
                lambda: (
                    f'<td data-field="crashed">{row_b.crashed}</td>' in view.html()
                    and 'data-field="last crash">boom<' in view.html()
                ),
                "b's crash counted and shown",
            )

            await view.live_patch({"node": "zed"})
            await view.wait_for(
                lambda: "no node &#39;zed&#39; in the cluster" in view.html(), "zed"
            )
            await view.change("node", {"node": ""})
            await view.wait_for(lambda: "Supervision tree <small" in view.html(), "own tree")
            assert "pool" not in labels(view)


async def test_a_node_from_the_query_is_a_node_name_or_nothing() -> None:
    async with ActorSystem("node-a") as system:
        snapshot = observe(system, RateWindow(), (), 1)
    state = ObserverState(session="s", connected=True, needs_token=False, snapshot=snapshot)
    for text, node in [
        ("b", "b"),
        ("node-1.eu_west", "node-1.eu_west"),
        ("a b", None),
        ("", None),
        ("x" * 65, None),
        ("é", None),
        ("../a", None),
        ("b\n", None),
    ]:
        assert with_params(state, {"node": text}).node == node, text
    check_any_node_text(state)


def check_any_node_text(state: ObserverState) -> None:
    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=300) | st.binary(max_size=100).map(_lossy))
    def any_text(text: str) -> None:
        node = with_params(state, {"node": text, "actor": text}).node
        assert node is None or (node == text and NODE_NAME.fullmatch(node))
        assert node_param(text) == node

    any_text()


def _lossy(data: bytes) -> str:
    """Bytes as a query decoder leaves them (invalid UTF-8 kept as surrogates)."""
    return data.decode("utf-8", "surrogateescape")
