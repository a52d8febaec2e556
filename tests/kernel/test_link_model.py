"""Property: random spawn/link/monitor/crash/stop/exit sequences agree with a reference
model of OTP link and monitor semantics (who dies, with what reason, and which Exit/Down
messages trapping and monitoring actors receive, in what order per receiver)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors import Down, Exit, ExitReason

from ..conftest import Runtime, quiesce
from ._actors import Boom, Log, Quit, Recorder

MAX_ACTORS = 6


def kind(reason: ExitReason) -> str:
    return "crash" if isinstance(reason, BaseException) else str(reason)


@dataclass
class ModelActor:
    trap: bool
    alive: bool = True
    reason: str | None = None
    inbox: list[tuple[str, int | None, str]] = field(default_factory=list)


@dataclass
class Model:
    actors: list[ModelActor] = field(default_factory=list)
    links: set[frozenset[int]] = field(default_factory=set)
    monitors: list[tuple[int, int]] = field(default_factory=list)  # (watcher, target)

    def die(self, x: int, reason: str) -> None:
        actor = self.actors[x]
        if not actor.alive:
            return
        actor.alive, actor.reason = False, reason
        # Monitors are notified in the order they were set; links after, by id.
        for watcher, target in list(self.monitors):
            if target == x:
                self.monitors.remove((watcher, target))
                if self.actors[watcher].alive:
                    self.actors[watcher].inbox.append(("down", x, reason))
        for watcher, target in list(self.monitors):
            if watcher == x:
                self.monitors.remove((watcher, target))
        linked = sorted(y for pair in self.links if x in pair for y in pair if y != x)
        self.links = {p for p in self.links if x not in p}
        for y in linked:
            self.signal(y, x, reason)

    def signal(self, y: int, sender: int | None, reason: str) -> None:
        target = self.actors[y]
        if not target.alive:
            return
        if reason == "kill" and sender is None:  # only exit(Pid, kill) is untrappable
            self.die(y, "killed")
        elif target.trap:
            target.inbox.append(("exit", sender, reason))
        elif reason != "normal":
            self.die(y, reason)


ops = st.lists(
    st.one_of(
        st.tuples(st.just("spawn"), st.booleans()),
        st.tuples(st.just("link"), st.integers(0, MAX_ACTORS - 1), st.integers(0, MAX_ACTORS - 1)),
        st.tuples(
            st.just("monitor"), st.integers(0, MAX_ACTORS - 1), st.integers(0, MAX_ACTORS - 1)
        ),
        st.tuples(st.just("crash"), st.integers(0, MAX_ACTORS - 1)),
        st.tuples(st.just("stop"), st.integers(0, MAX_ACTORS - 1)),
        st.tuples(
            st.just("quit"),
            st.integers(0, MAX_ACTORS - 1),
            st.sampled_from(["shutdown", "kill"]),
        ),
        st.tuples(
            st.just("exit"),
            st.integers(0, MAX_ACTORS - 1),
            st.sampled_from(["normal", "shutdown", "kill"]),
        ),
    ),
    max_size=25,
)


async def settle() -> None:
    for _ in range(4 * MAX_ACTORS + 8):
        await asyncio.sleep(0)
    await quiesce()


async def run(runtime: Runtime, operations: list[tuple[object, ...]]) -> None:
    model = Model()
    async with runtime.system() as system:
        refs = []
        for op in operations:
            name = op[0]
            if name == "spawn":
                if len(refs) >= MAX_ACTORS:
                    continue
                trap = bool(op[1])
                refs.append(system.spawn(lambda trap=trap: Recorder(trap=trap)))
                model.actors.append(ModelActor(trap=trap))
                continue
            ids = [i for i in op[1:] if isinstance(i, int)]
            if any(i >= len(refs) for i in ids):
                continue
            if name == "link":
                a, b = ids
                if a == b or not model.actors[a].alive:
                    continue
                system.link(refs[a], refs[b])
                if model.actors[b].alive:
                    model.links.add(frozenset((a, b)))
                else:
                    model.signal(a, b, "noproc")
            elif name == "monitor":
                a, b = ids
                if not model.actors[a].alive:
                    continue
                system.monitor(refs[a], refs[b])
                if model.actors[b].alive:
                    model.monitors.append((a, b))
                else:
                    model.actors[a].inbox.append(("down", b, "noproc"))
            elif name == "crash":
                (a,) = ids
                if not model.actors[a].alive:
                    continue
                refs[a].tell(Boom())
                model.die(a, "crash")
            elif name == "stop":
                (a,) = ids
                await refs[a].stop()
                model.die(a, "normal")
            elif name == "quit":  # the actor exits itself with the reason
                (a,) = ids
                if not model.actors[a].alive:
                    continue
                refs[a].tell(Quit(str(op[2])))
                model.die(a, str(op[2]))
            elif name == "exit":
                (a,) = ids
                system.exit(refs[a], str(op[2]))
                model.signal(a, None, str(op[2]))
            await settle()

        index = {ref: i for i, ref in enumerate(refs)}
        for i, (ref, expected) in enumerate(zip(refs, model.actors, strict=True)):
            assert ref.alive == expected.alive, (i, ref.exit_reason, expected)
            if not expected.alive:
                assert ref.exit_reason is not None
                assert kind(ref.exit_reason) == expected.reason, (i, ref.exit_reason, expected)
                continue
            got = []
            for item in await ref.ask(Log()):
                if isinstance(item, Exit):
                    sender = index[item.sender] if item.sender is not None else None
                    got.append(("exit", sender, kind(item.reason)))
                elif isinstance(item, Down):
                    got.append(("down", index[item.actor], kind(item.reason)))
            assert sorted(got, key=repr) == sorted(expected.inbox, key=repr), (i, got, expected)
            # Per receiver, signals from one sender arrive in the order they were sent.
            for sender in {s for _, s, _ in got}:
                assert [g for g in got if g[1] == sender] == [
                    e for e in expected.inbox if e[1] == sender
                ]


# `runtime` holds nothing between examples: each runtime.run builds a fresh loop.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.booleans(), min_size=2, max_size=MAX_ACTORS), ops)
def test_link_and_monitor_semantics_match_the_otp_model(
    runtime: Runtime, traps: list[bool], operations: list[tuple[object, ...]]
) -> None:
    spawns: list[tuple[object, ...]] = [("spawn", trap) for trap in traps]
    runtime.run(lambda: run(runtime, spawns + operations))
