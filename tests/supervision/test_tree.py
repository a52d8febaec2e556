"""``system_tree``: the operator snapshot, nested by parent, with child-spec data."""

from __future__ import annotations

import msgspec

from lightflow_actors import SHUTDOWN
from lightflow_actors.supervision import (
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    SystemTree,
    start_child,
    system_tree,
)

from ..conftest import Runtime
from ._actors import Event, Plain, child_ref, crash_and_settle, spec


async def test_tree_nests_actors_and_shows_supervisor_spec_data(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(name="ops") as system:
        sessions = ChildSpec(id="sessions", start=DynamicSupervisor, type="supervisor")
        top = await system.start_actor(
            # rest_for_one: db is last, so its restart leaves the sessions alone
            lambda: Supervisor([sessions, spec(log, "db")], strategy="rest_for_one", intensity=5)
        )
        dyn = await child_ref(top, "sessions")
        await start_child(dyn, ChildSpec(id="s", start=Plain, restart="temporary"))
        await crash_and_settle(system, top, await child_ref(top, "db"))
        loose = system.spawn(Plain, name="loose")

        tree = system_tree(system)
        assert tree.system == "ops" and tree.actors == 6
        (system_root,) = tree.roots  # the root supervisor adopts every top-level actor
        assert (system_root.name, system_root.actor_class) == ("lightflow.root", "RootSupervisor")
        assert [n.id for n in system_root.children] == [top.id, loose.id]
        root = system_root.children[0]
        assert (root.kind, root.strategy, root.actor_class) == (
            "supervisor",
            "rest_for_one",
            "Supervisor",
        )
        sess, db = root.children
        assert (db.child_id, db.kind, db.restart, db.restarts) == ("db", "worker", "permanent", 1)
        assert db.last_crash is None  # the new incarnation has not crashed
        assert (sess.child_id, sess.kind) == ("sessions", "supervisor")
        assert sess.strategy == "simple_one_for_one"
        (session,) = sess.children
        assert (session.child_id, session.restart, session.kind) == ("s", "temporary", "worker")
        assert system_root.children[1].name == "loose"

        decoded = msgspec.json.decode(msgspec.json.encode(tree), type=SystemTree)
        assert decoded == tree
        await system.terminate(top, SHUTDOWN, None)


async def test_tree_of_ten_thousand_actors_is_one_snapshot(runtime: Runtime) -> None:
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(DynamicSupervisor)
        for _ in range(300):
            await start_child(sup, ChildSpec(id="p", start=Plain))
        for _ in range(9_700):
            system.spawn(Plain)
        tree = system_tree(system)
        assert tree.actors == 10_001
        assert len(tree.roots[0].children) == 300
        assert all(n.child_id == "p" for n in tree.roots[0].children)
        await system.terminate(sup, SHUTDOWN, None)
