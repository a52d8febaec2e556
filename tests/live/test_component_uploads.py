"""Uploads inside live components: each row's component holds its own upload (a field
of its state, its input rendered with ``target=myself``); files go to that component
only, its ``handle_progress`` sees them, its event consumes them, and its temp files go
when it leaves the page. Bad targets and unknown uploads are refused by path."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from lightflow_actors.live import (
    LiveComponent,
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    Upload,
    UploadEntry,
    allow_upload,
    consume_uploaded_entries,
    keyed,
    live_component,
    live_file_input,
)
from lightflow_actors.testing.live import UploadFile

from ._uploads import part_files, refused, uploading

pytestmark = pytest.mark.anyio

ROW = Template(
    '<li id="row-{key}"><form id="attach-{key}" lf-submit="attach" lf-target="{myself}">'
    '{input}<button>attach</button></form><i class="progress">{progress}</i>'
    '<b class="files">{files}</b></li>'
)
PAGE = Template('<ul id="rows">{rows}</ul><p id="kept">{kept}</p>')
SLOT = Template("{row}")


class Attach(msgspec.Struct, frozen=True, tag="attach"):
    pass


class RowState(msgspec.Struct, frozen=True):
    key: str
    doc: Upload
    files: tuple[str, ...] = ()
    progress: tuple[int, ...] = ()


def _keep(path: Path, entry: UploadEntry) -> str:
    return f"{entry.client_name}={path.read_text()}"


class Row(LiveComponent[str, RowState, Attach]):
    def mount(self, props: str) -> RowState:
        return RowState(props, allow_upload("doc", accept="any", max_entries=2, chunk_size=4))

    def update(self, props: str, state: RowState) -> RowState:
        return state

    def handle_progress(self, upload: str, entry: UploadEntry, state: RowState) -> RowState:
        return msgspec.structs.replace(state, progress=(*state.progress, entry.progress))

    def handle_event(self, event: Attach, state: RowState) -> RowState:
        kept, doc = consume_uploaded_entries(state.doc, _keep)
        return msgspec.structs.replace(state, doc=doc, files=(*state.files, *kept))

    def render(self, state: RowState, myself: int) -> Rendered:
        return ROW(
            key=state.key,
            myself=myself,
            input=live_file_input(state.doc, target=myself),
            progress=",".join(map(str, state.progress)),
            files=" ".join(state.files),
        )


ROW_COMPONENT = Row()


class Rows(msgspec.Struct, frozen=True):
    keys: tuple[str, ...] = ("a", "b")


class Drop(msgspec.Struct, frozen=True, tag="drop"):
    key: str


class RowsView(LiveView[Rows, Drop]):
    def mount(self, params: Params, session: SessionInfo) -> Rows:
        return Rows()

    def handle_event(self, event: Drop, state: Rows) -> Rows:
        return Rows(tuple(k for k in state.keys if k != event.key))

    def render(self, state: Rows) -> Rendered:
        rows = keyed(SLOT, [(k, SLOT(row=live_component(ROW_COMPONENT, k, k))) for k in state.keys])
        return PAGE(rows=rows, kept="")


async def test_each_component_gets_its_own_files_and_consumes_them(tmp_path: Path) -> None:
    async with uploading({"rows": RowsView()}, tmp_path, "rows") as (_, view):
        files = view.file_input("#row-a", "doc", [UploadFile("a.txt", b"for row a")])
        assert files.target == view.element("#attach-a").node().attrs["lf-target"]
        await view.render_upload(files, "a.txt")
        # Progress went to row a's handle_progress, chunk by chunk (4 bytes a chunk).
        assert view.element("#row-a .progress").text() == "44,88,100"
        assert view.element("#row-b .progress").text() == ""
        await view.form("#attach-a").render_submit()
        assert view.element("#row-a .files").text() == "a.txt=for row a"
        assert view.element("#row-b .files").text() == ""
        assert part_files(tmp_path) == []  # consumed: its temp file went


async def test_a_component_that_leaves_takes_its_temp_files(tmp_path: Path) -> None:
    async with uploading({"rows": RowsView()}, tmp_path, "rows") as (_, view):
        files = view.file_input("#row-b", "doc", [UploadFile("b.txt", b"half of it")])
        await view.render_upload(files, "b.txt", percent=50)
        assert len(part_files(tmp_path)) == 1
        await view.render_click("drop", {"key": "b"})
        assert not view.has_element("#row-b")
        assert part_files(tmp_path) == []


async def test_uploads_to_a_bad_target_or_an_unknown_field_are_refused(tmp_path: Path) -> None:
    async with uploading({"rows": RowsView()}, tmp_path, "rows") as (_, view):
        preflight = {"upload": "doc", "entries": [{"ref": "0", "name": "x", "size": 1}]}
        for target, payload, path in (
            ("999", preflight, "$.instruction.target"),
            (None, preflight, "$.instruction.payload.upload"),  # the view has no "doc"
            ("1", {**preflight, "upload": "nope"}, "$.instruction.payload.upload"),
        ):
            error = await refused(view, "lf:upload", payload, target=target)  # type: ignore[arg-type]
            assert error.code == "malformed_frame" and error.path == path
        # The session lives on.
        files = view.file_input("#row-a", "doc", [UploadFile("ok.txt", b"ok")])
        await view.render_upload(files, "ok.txt")
        await view.form("#attach-a").render_submit()
        assert view.element("#row-a .files").text() == "ok.txt=ok"
