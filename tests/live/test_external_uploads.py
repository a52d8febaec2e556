"""External uploads (Phoenix's ``external:``): the view's ``presign_upload`` gives each
entry its meta (a URL for the browser's uploader), the input carries it, the uploader's
progress comes back as ``lf:progress`` to ``handle_progress``, and the view consumes
the done entries with ``consume_external_entries``. No byte goes over the socket: a
chunk, a progress that goes backwards, progress for a socket upload or an unsigned
entry are refused by path; a refused presign fails its entry."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
import pytest

from lightflow_actors.live import (
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    Upload,
    UploadEntry,
    ViewDefinitionError,
    allow_upload,
    consume_external_entries,
    consume_uploaded_entries,
    live_file_input,
    upload_error_text,
)
from lightflow_actors.live._upload import presigned
from lightflow_actors.testing.live import UploadFile, live_test

from ._uploads import refused

pytestmark = pytest.mark.anyio

PAGE = Template(
    '<form id="pics" lf-submit="save">{input}<button>save</button></form>'
    '<p id="progress">{progress}</p><p id="errors">{errors}</p><p id="saved">{saved}</p>'
    '<form id="local">{local}</form>'
)


class State(msgspec.Struct, frozen=True):
    pic: Upload
    local: Upload
    progress: tuple[int, ...] = ()
    saved: tuple[str, ...] = ()


class Save(msgspec.Struct, frozen=True, tag="save"):
    pass


def _key(meta: Mapping[str, object], entry: UploadEntry) -> str:
    return f"{meta['key']}({entry.client_size})"


class PicsView(LiveView[State, Save]):
    def mount(self, params: Params, session: SessionInfo) -> State:
        return State(
            allow_upload("pic", accept="any", max_entries=3, external=True),
            allow_upload("local", accept="any"),
        )

    def presign_upload(
        self, upload: str, entry: UploadEntry, state: State
    ) -> Mapping[str, object] | None:
        if entry.client_name.startswith("secret"):
            return None
        key = f"pics/{entry.ref}-{entry.client_name}"
        return {"uploader": "Bucket", "url": f"https://bucket.test/{key}?sig=x", "key": key}

    def handle_progress(self, upload: str, entry: UploadEntry, state: State) -> State:
        return msgspec.structs.replace(state, progress=(*state.progress, entry.progress))

    def handle_event(self, event: Save, state: State) -> State:
        saved, pic = consume_external_entries(state.pic, _key)
        return msgspec.structs.replace(state, pic=pic, saved=(*state.saved, *saved))

    def render(self, state: State) -> Rendered:
        errors = [
            f"{e.client_name}: {upload_error_text(k)}" for e in state.pic.entries for k in e.errors
        ]
        return PAGE(
            input=live_file_input(state.pic),
            progress=",".join(map(str, state.progress)),
            errors="; ".join(errors),
            saved=" ".join(state.saved),
            local=live_file_input(state.local),
        )


async def test_presigned_entries_report_progress_and_are_consumed() -> None:
    async with live_test({"pics": PicsView()}) as live:
        view = await live.mount("pics")
        files = view.file_input(
            "#pics", "pic", [UploadFile("cat.png", b"x" * 10), UploadFile("secret.png", b"s")]
        )
        await view.render_upload(files, "cat.png", percent=40)
        assert files.meta["0"] == {
            "uploader": "Bucket",
            "url": "https://bucket.test/pics/0-cat.png?sig=x",
            "key": "pics/0-cat.png",
        }
        # The input carries each signed entry's meta for the browser's uploader.
        assert "bucket.test/pics/0-cat.png" in (
            view.element("#lf-upload-pic").node().attrs["data-lf-external"] or ""
        )
        assert view.element("#progress").text() == "40"
        await view.render_upload(files, "cat.png")
        assert view.element("#progress").text() == "40,100"
        # presign_upload refused the secret file: its entry failed, nothing was signed.
        assert view.element("#errors").text() == "secret.png: The upload to storage failed"
        await view.form("#pics").render_submit()
        assert view.element("#saved").text() == "pics/0-cat.png(10)"


async def test_no_byte_goes_over_the_socket_and_bad_reports_are_refused() -> None:
    async with live_test({"pics": PicsView()}) as live:
        view = await live.mount("pics")
        files = view.file_input("#pics", "pic", [UploadFile("a.png", b"abc")])
        await view.render_upload(files, "a.png", percent=50)
        cases: list[tuple[str, dict[str, object], str]] = [
            ("lf:chunk", {"upload": "pic", "entry": "0", "offset": 0, "data": "YQ=="}, "upload"),
            ("lf:progress", {"upload": "pic", "entry": "0", "progress": 10}, "progress"),
            ("lf:progress", {"upload": "pic", "entry": "9", "progress": 60}, "entry"),
            ("lf:progress", {"upload": "local", "entry": "0", "progress": 60}, "upload"),
            ("lf:progress", {"upload": "pic", "entry": "0", "progress": 101}, "progress"),
        ]
        for event, payload, field in cases:
            error = await refused(view, event, payload)  # type: ignore[arg-type]
            assert error.path == f"$.instruction.payload.{field}"
        assert view.element("#progress").text() == "50"
        # The uploader's failure fails the entry (and the view hears of it).
        await view.push("lf:progress", {"upload": "pic", "entry": "0", "failed": True})
        assert view.element("#errors").text() == "a.png: The upload to storage failed"


def test_consume_and_presign_are_checked() -> None:
    external = allow_upload("pic", accept="any", external=True)
    with pytest.raises(ViewDefinitionError, match="consume_external_entries"):
        consume_uploaded_entries(external, lambda path, entry: path)
    with pytest.raises(ViewDefinitionError, match="not external"):
        consume_external_entries(allow_upload("doc", accept="any"), lambda meta, entry: meta)
    entry = UploadEntry("0", "a.png", 3)
    one = msgspec.structs.replace(external, entries=(entry,))
    with pytest.raises(ViewDefinitionError, match="'uploader'"):
        presigned(one, lambda e: {"url": "https://x"})
    with pytest.raises(ViewDefinitionError, match="not JSON"):
        presigned(one, lambda e: {"uploader": "B", "when": object()})
    signed = presigned(one, lambda e: {"uploader": "B", "n": 1})
    assert signed.entries[0].meta == {"uploader": "B", "n": 1}
    # Signed once: a second pass does not sign it again.
    assert presigned(signed, lambda e: None) == signed
