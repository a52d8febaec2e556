"""The settings example through the test DSL: a profile form with used-input errors, an
avatar upload with progress, cancel and consume, a panel loaded by assign_async, a start_async
lookup; and the session answers events while the slow panel loads."""

from __future__ import annotations

import hashlib

import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.live_examples.settings import SettingsView
from lightflow_actors.testing.live import LiveTestError, UploadFile, live_test

from .examples_test import examples_test

PNG = bytes(range(256)) * 300  # 76 800 bytes: three chunks of 32 KiB


@pytest.mark.anyio
async def test_form_errors_show_only_for_used_fields() -> None:
    async with examples_test() as live:
        view = await live.mount("settings")
        assert 'id="name-error"></span>' in view.html()  # nothing touched, nothing shown
        form = view.form("#profile", {"name": "A"})
        html = await form.render_change()
        assert "Expected `str` of length &gt;= 2" in html  # the name was used
        assert 'id="email-error"></span>' in html  # the email is invalid but untouched
        html = await form.render_change({"email": "not-an-address"})
        assert 'id="email-error">Expected `str` matching regex' in html
        html = await form.render_change({"name": "Ada", "email": "ada@example.org"})
        assert 'id="name-error"></span>' in html and 'id="email-error"></span>' in html
        html = await view.form("#profile", {"name": "", "age": "old"}).render_submit()
        # A submit shows the errors of every field; the email typed before is kept.
        assert 'id="age-error">Expected `int | null`, got `str`' in html
        assert 'id="name-error">can&#39;t be blank' in html
        assert 'id="saved"></p>' in html


@pytest.mark.anyio
async def test_upload_progress_consume_and_cancel() -> None:
    async with examples_test() as live:
        view = await live.mount("settings")
        avatar = view.file_input(
            "#profile",
            "avatar",
            [
                UploadFile("me.png", PNG, "image/png"),
                UploadFile("notes.txt", b"hello", "text/plain"),
            ],
        )
        html = await view.render_upload(avatar, "me.png", percent=50)
        assert 'id="entry-0"' in html and "me.png" in html
        assert 'data-lf-preview="avatar 0"' in html  # an image: the client previews it
        assert 'data-lf-preview="avatar 1"' not in html  # notes.txt is not an image
        assert '<span class="pct">50%</span>' in html  # two chunks: 32 768 + 5 632 bytes
        assert 'data-lf-ready="0 1"' in html
        html = await view.render_upload(avatar, "me.png")
        assert '<span class="pct">100%</span>' in html
        assert 'data-lf-ready="1"' in html
        await view.click("cancel", id="cancel-1")
        assert 'id="entry-1"' not in view.html()
        html = await view.form(
            "#profile", {"name": "Ada", "email": "ada@example.org"}
        ).render_submit()
        digest = hashlib.sha256(PNG).hexdigest()[:16]
        assert f"me.png: {len(PNG)} bytes, sha256 {digest}" in html
        assert "Saved Ada &lt;ada@example.org&gt;" in html
        assert 'id="entry-0"' not in html  # consumed


@pytest.mark.anyio
async def test_upload_errors_per_entry() -> None:
    view_ = SettingsView(max_file_size=1000)
    async with live_test({"settings": view_}) as live:
        view = await live.mount("settings")
        files = [
            UploadFile("big.png", b"x" * 1001, "image/png"),
            UploadFile("run.exe", b"MZ", "application/octet-stream"),
            UploadFile("a.png", b"a", "image/png"),
            UploadFile("b.png", b"b", "image/png"),
            UploadFile("c.png", b"c", "image/png"),
        ]
        avatar = view.file_input("#profile", "avatar", files)
        html = await view.render_upload(avatar, "a.png")
        assert '<li id="entry-0"><span class="file">big.png' in html
        assert "The file is too large" in html
        assert "This kind of file is not accepted" in html
        assert 'id="upload-error">Too many files' in html  # c.png is the third valid one
        assert 'data-lf-ready="3"' in html  # a.png done; b.png waits; c.png refused
        with pytest.raises(LiveTestError, match="no file input with lf-upload='nope'"):
            view.file_input("#profile", "nope", files)
        with pytest.raises(LiveTestError, match="in '#stats'"):
            view.file_input("#stats", "avatar", files)  # the input is not inside #stats
        with pytest.raises(LiveTestError, match="expected one"):
            await view.form("#profile > input").render_submit()  # four inputs
        with pytest.raises(LiveTestError, match="not a <form>"):
            await view.form("#stats").render_submit()
        with pytest.raises(LiveTestError):
            await view.form("#profile ~ p").render_submit()  # no sibling combinator


@pytest.mark.anyio
async def test_async_panel_loads_while_events_are_answered() -> None:
    async with live_test({"settings": SettingsView(stats_delay=3600)}) as live:
        view = await live.mount("settings")
        assert 'id="stats-body">loading…</p>' in view.html()
        # The panel's call is still running: the session answers events meanwhile.
        html = await view.form("#profile", {"name": "A"}).render_change()
        assert "Expected `str` of length &gt;= 2" in html
        assert "loading…" in html
        workers = [a for a in live.system.actors() if a.kind == "AsyncWorker"]
        assert len(workers) == 1
        await view.close()  # the browser leaves: the session stops and its work with it
        await view.settle(lambda: all(live.system.get(w.id) is None for w in workers))
        assert all(live.system.get(w.id) is None for w in workers)


@pytest.mark.deterministic(seeds=5, strategy="random")
async def test_render_async_and_start_async(sim_system: ActorSystem) -> None:
    async with examples_test(sim_system) as live:
        view = await live.mount("settings")
        assert "loading…" in view.html()
        html = await view.render_async()
        assert 'id="stats-body">42 visits</p>' in html
        await view.click("reload")
        assert "loading… (last: 42 visits)" in view.html()  # the old result stays meanwhile
        html = await view.render_async()
        assert 'id="stats-body">43 visits</p>' in html
        await view.form("#profile", {"name": "admin"}).render_change()
        await view.click("check")
        assert "checking…" in view.html()
        html = await view.render_async()
        assert "&#39;admin&#39; is taken" in html


@pytest.mark.deterministic(seeds=5, strategy="random")
async def test_upload_and_save_under_any_schedule(sim_system: ActorSystem) -> None:
    async with examples_test(sim_system) as live:
        view = await live.mount("settings")
        avatar = view.file_input("#profile", "avatar", [UploadFile("me.png", PNG, "image/png")])
        await view.render_upload(avatar, "me.png")
        html = await view.form(
            "#profile", {"name": "Ada", "email": "ada@example.org"}
        ).render_submit()
        assert f"me.png: {len(PNG)} bytes" in html
