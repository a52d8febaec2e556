"""Uploads against a hostile client: every bad preflight or chunk gets a typed error frame
naming the field, the entry concerned fails and loses its temp file, the session lives on,
and temp files never outlive their session (disconnect, crash, kill)."""

from __future__ import annotations

import base64
import os
import string
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.isa import Mount, Render, Submit
from lightflow_actors.live import (
    LiveConfig,
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    Upload,
    UploadEntry,
    ViewDefinitionError,
    allow_upload,
    cancel_upload,
    consume_uploaded_entries,
    keyed,
    live_file_input,
)
from lightflow_actors.live._component import ViewSpec
from lightflow_actors.live._program import ViewProgram
from lightflow_actors.live._upload import UploadFiles, hub_upload_dir
from lightflow_actors.testing.live import LiveTest, LiveViewHandle, UploadFile, live_test

from ._uploads import last_error, part_files, uploading


class Cancel(msgspec.Struct, frozen=True, tag="cancel"):
    ref: str = ""


class Crash(msgspec.Struct, frozen=True, tag="crash"):
    pass


class Ping(msgspec.Struct, frozen=True, tag="ping"):
    pass


class Files(msgspec.Struct, frozen=True):
    doc: Upload
    pings: int = 0


ENTRY = Template('<li id="e-{ref}">{name} {progress}% {errors}</li>')
PAGE = Template(
    '<form id="f">{input}</form><ul>{entries}</ul><p id="pings">{pings}</p>'
    '<button lf-click="ping">ping</button>'
)


class FileDrop(LiveView[Files, Cancel | Crash | Ping]):
    def mount(self, params: Params, session: SessionInfo) -> Files:
        return Files(allow_upload("doc", accept=(".txt",), max_entries=3, chunk_size=8))

    def handle_event(self, event: Cancel | Crash | Ping, state: Files) -> Files:
        if isinstance(event, Crash):
            raise RuntimeError("the view crashed")
        if isinstance(event, Ping):
            return msgspec.structs.replace(state, pings=state.pings + 1)
        return msgspec.structs.replace(state, doc=cancel_upload(state.doc, event.ref))

    def render(self, state: Files) -> Rendered:
        entries = [
            (
                e.ref,
                ENTRY(
                    ref=e.ref, name=e.client_name, progress=e.progress, errors=" ".join(e.errors)
                ),
            )
            for e in state.doc.entries
        ]
        return PAGE(
            input=live_file_input(state.doc), entries=keyed(ENTRY, entries), pings=state.pings
        )


def drop(tmp_path: Path) -> AbstractAsyncContextManager[tuple[LiveTest, LiveViewHandle]]:
    return uploading({"drop": FileDrop()}, tmp_path, "drop")


async def alive(view: LiveViewHandle) -> None:
    """The session still answers a normal event."""
    before = view.html()
    await view.click("ping")
    assert view.html() != before


def chunk(entry: str, offset: int, data: bytes, upload: str = "doc") -> dict[str, object]:
    return {
        "upload": upload,
        "entry": entry,
        "offset": offset,
        "data": base64.b64encode(data).decode(),
    }


async def preflight(view: LiveViewHandle, *entries: tuple[str, str, int]) -> None:
    await view.push(
        "lf:upload",
        {"upload": "doc", "entries": [{"ref": r, "name": n, "size": s} for r, n, s in entries]},
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("payload", "path", "words"),
    [
        (chunk("0", 0, b"x", upload="nope"), "$.instruction.payload.upload", "no upload named"),
        (chunk("9", 0, b"x"), "$.instruction.payload.entry", "has no entry '9'"),
        (chunk("0", 0, b"123456789"), "$.instruction.payload.data", "the chunk size is 8"),
        (chunk("0", 3, b"abc"), "$.instruction.payload.offset", "expected 0"),
        ({**chunk("0", 0, b""), "data": "!!!"}, "$.instruction.payload.data", "not base64"),
        (chunk("0", 0, b""), "$.instruction.payload.data", "an empty chunk"),
        ({**chunk("0", 0, b"x"), "extra": 1}, "$.instruction.payload", "unknown field"),
        ({**chunk("0", 0, b"x"), "entry": "../x"}, "$.instruction.payload.entry", "regex"),
        ({**chunk("0", 0, b"x"), "offset": -1}, "$.instruction.payload.offset", ">= 0"),
    ],
)
async def test_bad_chunks_are_refused_and_the_session_lives(
    tmp_path: Path, payload: dict[str, object], path: str, words: str
) -> None:
    async with drop(tmp_path) as (_, view):
        await preflight(view, ("0", "a.txt", 10))
        await view.push("lf:chunk", payload)  # type: ignore[arg-type]
        error = last_error(view)
        assert error.code == "malformed_frame"
        assert error.path is not None and error.path.startswith(path), error
        assert words in error.message
        assert not view.closed
        await alive(view)


@pytest.mark.anyio
async def test_more_bytes_than_declared_fail_the_entry_and_remove_its_file(
    tmp_path: Path,
) -> None:
    async with drop(tmp_path) as (_, view):
        await preflight(view, ("0", "a.txt", 10))
        await view.push("lf:chunk", chunk("0", 0, b"12345678"))  # type: ignore[arg-type]
        assert "80%" in view.html() and len(part_files(tmp_path)) == 1
        await view.push("lf:chunk", chunk("0", 8, b"123"))  # type: ignore[arg-type]
        assert "more bytes than the 10 declared" in last_error(view).message
        assert 'id="e-0">a.txt 0% transfer_failed' in view.html()
        assert part_files(tmp_path) == []
        await view.push("lf:chunk", chunk("0", 0, b"1"))  # type: ignore[arg-type]
        assert "was refused (transfer_failed)" in last_error(view).message
        await alive(view)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "a/b.txt", "a\\b.txt", "..", ".", "a\x00.txt", "tab\t.txt"]
)
async def test_file_names_that_are_paths_are_refused(tmp_path: Path, name: str) -> None:
    async with drop(tmp_path) as (_, view):
        await preflight(view, ("0", name, 3))
        error = last_error(view)
        assert error.path == "$.instruction.payload.entries[0].name", error
        assert 'id="e-0"' not in view.html()
        assert part_files(tmp_path) == []
        await alive(view)


@pytest.mark.anyio
async def test_invalid_utf8_in_a_name_is_refused_by_the_codec(tmp_path: Path) -> None:
    async with drop(tmp_path) as (_, view):
        frame = (
            b'{"kind":"instruction","v":1,"seq":%d,"instruction":{"op":"submit",'
            b'"event":"lf:upload","payload":{"upload":"doc","entries":[{"ref":"0",'
            b'"name":"\xff\xfe.txt","size":1}]}}}'
        )
        await view.send_raw(frame % (view.client.connection.last_seq_out + 1))
        await view.settle()
        assert last_error(view).code == "malformed_frame"
        await alive(view)


@pytest.mark.anyio
async def test_preflight_bounds(tmp_path: Path) -> None:
    async with drop(tmp_path) as (_, view):
        many = [{"ref": str(i), "name": f"{i}.txt", "size": 1} for i in range(257)]
        await view.push("lf:upload", {"upload": "doc", "entries": many})  # type: ignore[dict-item]
        assert last_error(view).path == "$.instruction.payload.entries"
        await preflight(view, ("0", "a.txt", 1), ("0", "b.txt", 1))
        assert last_error(view).path == "$.instruction.payload.entries[1].ref"
        await preflight(view, ("0", "x" * 256, 1))
        assert last_error(view).path == "$.instruction.payload.entries[0].name"
        await alive(view)


@pytest.mark.anyio
async def test_a_chunk_for_a_cancelled_entry_is_ignored(tmp_path: Path) -> None:
    async with drop(tmp_path) as (_, view):
        await preflight(view, ("0", "a.txt", 10))
        await view.push("lf:chunk", chunk("0", 0, b"1234"))  # type: ignore[arg-type]
        await view.click("ping")
        errors = len(view.errors)
        await view.push("cancel", {"ref": "0"})
        assert part_files(tmp_path) == []
        await view.push("lf:chunk", chunk("0", 4, b"5678"))  # type: ignore[arg-type]
        assert len(view.errors) == errors  # in flight when cancelled: not an error
        assert part_files(tmp_path) == []


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["disconnect", "crash", "kill"])
async def test_temp_files_go_with_the_session(tmp_path: Path, how: str) -> None:
    async with drop(tmp_path) as (live, view):
        files = [UploadFile("a.txt", b"0123456789"), UploadFile("b.txt", b"abc")]
        doc = view.file_input("#f", "doc", files)
        await view.render_upload(doc, "a.txt", percent=50)
        await view.render_upload(doc, "b.txt")
        assert len(part_files(tmp_path)) == 2
        [session] = await live.hub.sessions()
        if how == "disconnect":
            await view.close()
        elif how == "crash":
            await view.send_event("crash", {})
        else:
            live.system.kill(session)
        await view.settle(lambda: live.system.get(session.id) is None)
        for _ in range(20):
            if not part_files(tmp_path):
                break
            await view.settle()
        assert part_files(tmp_path) == []


def test_allow_upload_checks_its_options() -> None:
    with pytest.raises(ViewDefinitionError, match="identifier"):
        allow_upload("../x", accept="any")
    with pytest.raises(ViewDefinitionError, match="extensions"):
        allow_upload("doc", accept=("png",))
    with pytest.raises(ViewDefinitionError, match="max_entries"):
        allow_upload("doc", accept="any", max_entries=0)
    with pytest.raises(ViewDefinitionError, match="chunk_size"):
        allow_upload("doc", accept="any", chunk_size=1 << 20)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(string.printable, max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "upload": st.sampled_from(["doc", "nope", ""]) | json_values,
        "entry": st.sampled_from(["0", "1", "x"]) | json_values,
        "offset": st.integers(-2, 20) | json_values,
        "data": st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode()) | json_values,
        "entries": st.lists(
            st.fixed_dictionaries(
                {"ref": st.sampled_from(["0", "1", "2"]), "name": st.text(max_size=12)},
                optional={"size": st.integers(-1, 20), "type": st.text(max_size=8)},
            ),
            max_size=5,
        )
        | json_values,
    },
)


@settings(max_examples=150)
@given(steps=st.lists(st.tuples(st.sampled_from(["lf:upload", "lf:chunk"]), payloads), max_size=8))
def test_any_upload_frames_never_break_the_program(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, object]]
) -> None:
    """Whatever upload events arrive, the program answers each (an error or a patch with
    its ref), the upload's entries stay consistent with the files on disk, and a stop
    removes every file."""
    folder = tmp_path_factory.mktemp("uploads")
    program = ViewProgram(
        ViewSpec("drop", FileDrop()), SessionInfo("s", True), uploads=UploadFiles(folder / "s")
    )
    program.mount(Mount(id="s", target="drop"))
    program.render(Render())
    for n, (event, payload) in enumerate(steps):
        effects = program.submit(Submit(event=event, payload=payload, ref=str(n)))  # type: ignore[arg-type]
        assert effects, "every upload event is answered"
        state = program.state
        assert isinstance(state, Files)
        for entry in state.doc.entries:
            assert entry.uploaded <= entry.client_size
            assert not entry.done or entry.progress == 100
        on_disk = (
            sum(p.stat().st_size for p in (folder / "s").glob("*.part"))
            if (folder / "s").exists()
            else 0
        )
        assert on_disk == sum(e.uploaded for e in state.doc.entries if e.valid)
    program.close()
    assert not (folder / "s").exists()


class AutoConsume(FileDrop):
    """Consumes each file as soon as it is done (Phoenix's ``progress:`` callback)."""

    def handle_progress(self, upload: str, entry: UploadEntry, state: Files) -> Files:
        if not entry.done:
            return state
        sizes, doc = consume_uploaded_entries(state.doc, lambda path, e: path.stat().st_size)
        return msgspec.structs.replace(state, doc=doc, pings=state.pings + sum(sizes))


@pytest.mark.anyio
async def test_handle_progress_sees_each_step_and_may_consume(tmp_path: Path) -> None:
    async with uploading({"drop": AutoConsume()}, tmp_path, "drop") as (_, view):
        doc = view.file_input("#f", "doc", [UploadFile("a.txt", b"0123456789")])
        html = await view.render_upload(doc, "a.txt", percent=50)
        assert 'id="e-0">a.txt 50%' in html
        html = await view.render_upload(doc, "a.txt")
        assert 'id="e-0"' not in html  # consumed the moment it was done
        assert '<p id="pings">10</p>' in html
        assert part_files(tmp_path) == []


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["unusable folder", "uploads off"])
async def test_without_an_upload_folder_views_serve_and_preflights_are_refused(
    tmp_path: Path, how: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = (
        LiveConfig(upload_dir=str(blocker / "uploads"))
        if how == "unusable folder"
        else LiveConfig(upload_dir=str(tmp_path), uploads=False)
    )
    async with live_test({"drop": FileDrop()}, config=config) as live:
        view = await live.mount("drop")
        await preflight(view, ("0", "a.txt", 1))
        error = last_error(view)
        assert "takes no uploads" in error.message
        assert error.path == "$.instruction.payload.upload"
        await alive(view)


def test_a_hub_folder_of_a_process_gone_is_swept(tmp_path: Path) -> None:
    dead = 2**22 + 12345  # above the usual pid_max: no such process
    stale = tmp_path / f"live-{dead}-0000abcd"
    (stale / "s7").mkdir(parents=True)
    (stale / "s7" / "1.part").write_bytes(b"left by a kill -9")
    ours = tmp_path / f"live-{os.getpid()}-00000001"
    ours.mkdir()
    other = tmp_path / "not-a-hub-folder"
    other.mkdir()
    made = hub_upload_dir(tmp_path, "live", 1)  # the token is taken: the next one is used
    assert made.name == f"live-{os.getpid()}-00000002"
    assert not stale.exists()
    assert ours.exists() and other.exists()
