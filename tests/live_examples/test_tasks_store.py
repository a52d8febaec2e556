"""The tasks example's stores keep each user's tasks on disk: a store that crashes, or a
whole system that stops, comes back with every task; a saved file that does not decode
is set aside and the store starts empty instead of failing the user's page."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors import ActorSystem
from lightflow_actors.cortex import temp_name
from lightflow_actors.live_examples import CHAT_ROOM, TASK_STORES, TICKER, start_example_actors
from lightflow_actors.live_examples.tasks import (
    STORES,
    TASKS_FILE,
    Attachment,
    ListTasks,
    PutTask,
    RemoveTask,
    StoreFor,
    Task,
    TaskStores,
    _read_tasks,
)

pytestmark = pytest.mark.anyio


async def tasks_of(system: ActorSystem, user: str) -> tuple[Task, ...]:
    stores = system.lookup(STORES, TaskStores)
    store = await stores.ask(StoreFor(user))
    return await store.ask(ListTasks())


async def test_a_crashed_store_and_a_new_system_both_find_every_task(tmp_path: Path) -> None:
    clip = Attachment("a.png", "a-1-0123-a.png", 3, "image/png")
    async with ActorSystem("tasks-store") as system:
        await system.start_actor(lambda: TaskStores(lambda: tmp_path), name=STORES)
        store = await system.lookup(STORES, TaskStores).ask(StoreFor("ada"))
        store.tell(PutTask(Task("a-1", "tea", attachments=(clip,))))
        store.tell(PutTask(Task("a-2", "milk")))
        store.tell(PutTask(Task("a-2", "milk", done=True)))
        store.tell(RemoveTask("a-1"))
        store.tell(PutTask(Task("a-3", "cake")))
        assert [t.id for t in await store.ask(ListTasks())] == ["a-2", "a-3"]
        system.kill(store)
        await system.wait_exit(store)
        again = await tasks_of(system, "ada")
        assert again == (Task("a-2", "milk", done=True), Task("a-3", "cake"))
        assert await tasks_of(system, "grace") == ()
    async with ActorSystem("tasks-store-2") as system:
        await system.start_actor(lambda: TaskStores(lambda: tmp_path), name=STORES)
        assert [t.text for t in await tasks_of(system, "ada")] == ["milk", "cake"]
    assert not (tmp_path / "ada" / temp_name(TASKS_FILE)).exists()


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b'[{"id": 1}]', b'{"id": "x"}'],
    ids=["empty", "truncated", "invalid-utf8", "deep", "wrong-type", "not-a-list"],
)
async def test_a_bad_file_is_set_aside_and_the_store_starts_empty(
    tmp_path: Path, raw: bytes
) -> None:
    folder = tmp_path / "ada"
    folder.mkdir()
    (folder / TASKS_FILE).write_bytes(raw)
    async with ActorSystem("tasks-bad") as system:
        await system.start_actor(lambda: TaskStores(lambda: tmp_path), name=STORES)
        assert await tasks_of(system, "ada") == ()
        store = await system.lookup(STORES, TaskStores).ask(StoreFor("ada"))
        store.tell(PutTask(Task("a-1", "fresh")))
        assert [t.text for t in await store.ask(ListTasks())] == ["fresh"]
    assert (folder / ".tasks.json.bad").read_bytes() == raw  # kept for a person to read
    assert [t.text for t in _read_tasks(folder)] == ["fresh"]


@given(st.binary(max_size=512))
def test_any_bytes_read_as_tasks_or_as_nothing(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / TASKS_FILE).write_bytes(raw)
        tasks = _read_tasks(folder)
        try:
            expected = msgspec.json.decode(raw, type=list[Task])
        except msgspec.DecodeError:
            assert tasks == [] and (folder / ".tasks.json.bad").exists()
        else:
            assert tasks == expected[:200]


async def test_the_example_actors_come_back_after_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared example actors are the root's permanent children: a crashed room, ticker
    or store directory is restarted, and the tasks come back from their files."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    async with ActorSystem("examples-crash") as system:
        await start_example_actors(system, interval=3600.0)
        store = await system.lookup(TASK_STORES, TaskStores).ask(StoreFor("ada"))
        store.tell(PutTask(Task("a-1", "survives")))
        assert [t.text for t in await store.ask(ListTasks())] == ["survives"]
        names = (CHAT_ROOM, TICKER, TASK_STORES)
        olds = {name: system.whereis(name) for name in names}
        for ref in olds.values():
            assert ref is not None
            system.kill(ref)
            await system.wait_exit(ref)
        for name in names:
            for _ in range(1000):  # the root restarts each after its backoff (0.5 s)
                if system.whereis(name) not in (None, olds[name]):
                    break
                await asyncio.sleep(0.01)
            assert system.whereis(name) not in (None, olds[name]), f"{name} was not restarted"
        system.kill(store)
        await system.wait_exit(store)
        assert [t.text for t in await tasks_of(system, "ada")] == ["survives"]
