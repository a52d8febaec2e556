"""assign_async / start_async / cancel: loading, ok and failed states in the view, stale
results dropped, blocking work in a thread, the session answering events meanwhile, and
the work killed with its session; on the real loop and under the deterministic one."""

from __future__ import annotations

import asyncio
import threading
import types

import msgspec
import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.live import (
    AssignAsync,
    AsyncResult,
    CancelAsync,
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    StartAsync,
    Template,
    Update,
)
from lightflow_actors.testing.live import live_test


class Load(msgspec.Struct, frozen=True, tag="load"):
    what: str = "ok"  # ok | fail | partial | slow | blocking


class Cancel(msgspec.Struct, frozen=True, tag="cancel"):
    name: str = "user"


class Start(msgspec.Struct, frozen=True, tag="start"):
    fail: bool = False


class Bump(msgspec.Struct, frozen=True, tag="bump"):
    pass


class State(msgspec.Struct, frozen=True):
    user: AsyncResult[str]
    plan: AsyncResult[str]
    job: str = ""
    bumps: int = 0


PAGE = Template(
    '<p id="user">{user}</p><p id="plan">{plan}</p><p id="job">{job}</p><p id="bumps">{bumps}</p>'
)


def show(result: AsyncResult[str]) -> str:
    if result.failed is not None:
        return f"failed: {result.failed}"
    if result.loading:
        return "loading" + (f" (was {result.result})" if result.ok else "")
    return result.result or "-"


async def _load(what: str) -> dict[str, object]:
    if what == "slow":
        await asyncio.sleep(3600)
    await asyncio.sleep(0.01)
    if what == "fail":
        raise LookupError("no such user")
    if what == "partial":
        return {"user": "ada"}
    if what == "proxy":  # any mapping will do
        return types.MappingProxyType({"user": "bob", "plan": "free"})  # type: ignore[return-value]
    return {"user": "ada", "plan": "pro"}


def _blocking() -> dict[str, object]:
    return {"user": threading.current_thread().name, "plan": "thread"}


class Async(LiveView[State, Load | Cancel | Start | Bump]):
    def mount(self, params: Params, session: SessionInfo) -> Update[State]:
        state = State(user=AsyncResult(), plan=AsyncResult())
        return Update(state, (self._assign(params.get("what", "ok")),))

    def _assign(self, what: str) -> AssignAsync:
        if what == "blocking":
            return AssignAsync(keys=("user", "plan"), fn=_blocking, blocking=True)
        return AssignAsync(keys=("user", "plan"), fn=lambda: _load(what))

    def handle_event(
        self, event: Load | Cancel | Start | Bump, state: State
    ) -> State | Update[State]:
        match event:
            case Load(what=what):
                return Update(state, (self._assign(what),))
            case Cancel(name=name):
                return Update(state, (CancelAsync(name=name),))
            case Start(fail=fail):
                return Update(
                    msgspec.structs.replace(state, job="running"),
                    (StartAsync(name="job", fn=lambda: _job(fail)),),
                )
            case Bump():
                return msgspec.structs.replace(state, bumps=state.bumps + 1)
        return state

    def handle_async(self, name: str, result: AsyncResult[object], state: State) -> State:
        text = f"{name}: {result.result}" if result.ok else f"{name} failed: {result.failed}"
        return msgspec.structs.replace(state, job=text)

    def render(self, state: State) -> Rendered:
        return PAGE(user=show(state.user), plan=show(state.plan), job=state.job, bumps=state.bumps)


async def _job(fail: bool) -> int:
    await asyncio.sleep(0.01)
    if fail:
        raise RuntimeError("boom")
    return 42


@pytest.mark.anyio
async def test_assign_async_loading_then_ok_and_reload_keeps_the_result() -> None:
    async with live_test({"a": Async()}) as live:
        view = await live.mount("a")
        assert '<p id="user">loading</p>' in view.html()  # the first paint already says so
        html = await view.render_async()
        assert '<p id="user">ada</p><p id="plan">pro</p>' in html
        await view.push("load", {"what": "slow"})
        assert '<p id="user">loading (was ada)</p>' in view.html()
        await view.push("bump", {})  # answered while the load is still running
        assert '<p id="bumps">1</p>' in view.html()
        await view.push("cancel", {"name": "plan"})
        assert '<p id="plan">failed: cancelled</p>' in view.html()
        # Cancelling one key stops the work: both of its fields failed.
        assert '<p id="user">failed: cancelled</p>' in view.html()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("what", "user", "plan"),
    [
        ("fail", "failed: LookupError: no such user", "failed: LookupError"),
        ("partial", "ada", "failed: the assign_async function returned no value for"),
        ("proxy", "bob", "free"),
    ],
)
async def test_assign_async_failures_reach_the_fields(what: str, user: str, plan: str) -> None:
    async with live_test({"a": Async()}) as live:
        view = await live.mount("a", {"what": what})
        html = await view.render_async()
        assert f'<p id="user">{user}' in html
        assert f'<p id="plan">{plan}' in html


@pytest.mark.anyio
async def test_blocking_work_runs_in_a_thread() -> None:
    async with live_test({"a": Async()}) as live:
        view = await live.mount("a", {"what": "blocking"})
        html = await view.render_async()
        assert '<p id="plan">thread</p>' in html
        assert f'<p id="user">{threading.current_thread().name}</p>' not in html


@pytest.mark.anyio
async def test_a_new_load_replaces_the_running_one() -> None:
    async with live_test({"a": Async()}) as live:
        view = await live.mount("a", {"what": "slow"})
        await view.push("load", {"what": "ok"})
        html = await view.render_async()  # the slow one was killed: nothing left to wait for
        assert '<p id="user">ada</p>' in html
        workers = [a for a in live.system.actors() if a.kind == "AsyncWorker"]
        assert workers == []


@pytest.mark.deterministic(seeds=10, strategy="random")
async def test_start_async_and_handle_async_under_any_schedule(sim_system: ActorSystem) -> None:
    async with live_test({"a": Async()}, system=sim_system) as live:
        view = await live.mount("a", {"what": "slow"})
        await view.push("start", {})
        assert '<p id="job">running</p>' in view.html()
        await view.push("bump", {})
        await view.push("cancel", {"name": "user"})  # the slow assign goes; the job stays
        html = await view.render_async()
        assert '<p id="job">job: 42</p>' in html
        assert '<p id="bumps">1</p>' in html
        await view.push("start", {"fail": True})
        html = await view.render_async()
        assert '<p id="job">job failed: RuntimeError: boom</p>' in html


@pytest.mark.deterministic(seeds=10, strategy="random")
async def test_a_closed_page_kills_its_async_work(sim_system: ActorSystem) -> None:
    async with live_test({"a": Async()}, system=sim_system) as live:
        view = await live.mount("a", {"what": "slow"})
        workers = [a.id for a in sim_system.actors() if a.kind == "AsyncWorker"]
        assert len(workers) == 1
        await view.close()
        for _ in range(10):
            await view.settle()
        assert [sim_system.get(w) for w in workers] == [None]
