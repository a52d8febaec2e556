"""A durable session continued on another node: what belonged to the old session (its
upload temp files, its async work) is gone, so the restored state says so: the upload
has no entries, a load still running is `failed: interrupted` (a loaded result is kept),
and the view goes on (a new upload works)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.live import (
    AssignAsync,
    AsyncResult,
    InMemorySessionStore,
    LiveConfig,
    LiveHub,
    LiveView,
    Params,
    Rendered,
    SessionBook,
    SessionInfo,
    Template,
    Update,
    Upload,
    allow_upload,
    live_file_input,
    snapshot_key,
)
from lightflow_actors.live._program import resumed
from lightflow_actors.testing.live import UploadFile

from .test_session_snapshots import SECRET, browser, first_visit, written


class Bump(msgspec.Struct, frozen=True, tag="bump"):
    pass


class Page(msgspec.Struct, frozen=True):
    doc: Upload
    slow: AsyncResult[str]
    quick: AsyncResult[str]
    bumps: int = 0


PAGE = Template(
    '<form id="f">{input}</form><p id="entries">{entries}</p><p id="slow">{slow}</p>'
    '<p id="quick">{quick}</p><b id="bumps">{bumps}</b><button lf-click="bump">+</button>'
)


def show(result: AsyncResult[str]) -> str:
    if result.loading:
        return "loading"
    return result.result or "" if result.ok else f"failed: {result.failed}"


async def _slow() -> dict[str, object]:
    await asyncio.sleep(3600)
    return {"slow": "late"}


async def _quick() -> dict[str, object]:
    return {"quick": "ready"}


class Durable(LiveView[Page, Bump]):
    rejoin = "rehydrate"

    def mount(self, params: Params, session: SessionInfo) -> Update[Page]:
        page = Page(allow_upload("doc", accept="any", chunk_size=4), AsyncResult(), AsyncResult())
        return Update(
            page,
            (AssignAsync(keys=("slow",), fn=_slow), AssignAsync(keys=("quick",), fn=_quick)),
        )

    def handle_event(self, event: Bump, state: Page) -> Page:
        return msgspec.structs.replace(state, bumps=state.bumps + 1)

    def render(self, state: Page) -> Rendered:
        entries = " ".join(f"{e.client_name}:{e.progress}" for e in state.doc.entries)
        return PAGE(
            input=live_file_input(state.doc),
            entries=entries,
            slow=show(state.slow),
            quick=show(state.quick),
            bumps=state.bumps,
        )


async def node(system: ActorSystem, book: SessionBook, name: str, uploads: Path) -> LiveHub:
    hub = LiveHub(
        system,
        {"durable": Durable()},
        secret=SECRET,
        session_store=InMemorySessionStore(book, name),
        config=LiveConfig(upload_dir=str(uploads / name)),
    )
    await hub.start()
    return hub


@pytest.mark.anyio
async def test_uploads_and_loads_of_the_old_node_are_gone_and_say_so(tmp_path: Path) -> None:
    book = SessionBook()
    async with ActorSystem("node-a") as system_a, ActorSystem("node-b") as system_b:
        a = await node(system_a, book, "a", tmp_path)
        b = await node(system_b, book, "b", tmp_path)
        on_a, session_id, token = await first_visit(a, "durable")
        await on_a.wait_for(lambda: 'id="quick">ready' in on_a.html(), "the quick load")
        doc = on_a.file_input("#f", "doc", [UploadFile("a.txt", b"01234567")])
        await on_a.render_upload(doc, "a.txt", percent=50)
        await on_a.click("bump")
        assert 'id="entries">a.txt:50' in on_a.html() and 'id="slow">loading' in on_a.html()
        key = snapshot_key(session_id, "durable")
        await written(book, key, lambda s: b"a.txt" in s.state and s.owner == "a")
        await a.stop()

        on_b = await browser(b, "durable", session_id, token)
        html = on_b.html()
        assert '<b id="bumps">1</b>' in html  # rehydrated, not mounted again
        assert 'id="entries"></p>' in html  # the temp file stayed on node a
        assert 'id="slow">failed: interrupted' in html
        assert 'id="quick">ready' in html  # a loaded result is kept
        again = on_b.file_input("#f", "doc", [UploadFile("b.txt", b"xy")])
        assert 'id="entries">b.txt:100' in await on_b.render_upload(again, "b.txt")
        await b.stop()


def test_resumed_leaves_other_states_alone() -> None:
    assert resumed(3) == 3
    assert resumed({"a": 1}) == {"a": 1}
    page = Page(allow_upload("doc", accept="any"), AsyncResult.of("x"), AsyncResult())
    assert resumed(page) is page
