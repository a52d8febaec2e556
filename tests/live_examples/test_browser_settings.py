"""Real browser: the settings example. A real file goes up the socket in chunks
(``set_input_files``) with its progress shown, is consumed on submit (the page shows the
size and SHA-256 the server computed), an entry can be cancelled, errors show only for
fields the user touched, and the stats panel loads in the background while the page
keeps answering.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import msgspec

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.live import (
    LiveConfig,
    LiveHub,
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    Upload,
    allow_upload,
    consume_uploaded_entries,
    live_file_input,
)
from lightflow_actors.live_examples.settings import SettingsView

from ..live.live_server import serving
from .test_browser import ARGS, CHROMIUM, async_playwright, open_page, pytestmark, text_is  # noqa: F401

CONTENT = bytes(range(256)) * 1200  # 307 200 bytes: ten chunks of 32 KiB


async def test_upload_a_real_file_with_progress_and_consume(tmp_path: Path) -> None:
    avatar = tmp_path / "me.png"
    avatar.write_bytes(CONTENT)
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"hello")
    uploads = tmp_path / "uploads"
    async with ActorSystem("browser-profile", seed=3) as system:
        hub = LiveHub(
            system,
            {"settings": SettingsView(stats_delay=0.3)},
            config=LiveConfig(upload_dir=str(uploads)),
        )
        async with serving(LiveRoutes(hub).routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/settings")
                # The async panel: loading on the first paint, then its result.
                await text_is(page, "#stats-body", "42 visits")
                await page.evaluate(
                    """() => {
                        window.progress = [];
                        new MutationObserver(() => {
                          const p = document.querySelector('#entry-0 .pct');
                          if (p) window.progress.push(p.textContent);
                        }).observe(document.body, {subtree: true, childList: true,
                                                    characterData: true});
                    }"""
                )
                await page.set_input_files("#lf-upload-avatar", [str(avatar), str(notes)])
                await text_is(page, "#entry-0 .pct", "100%")
                await text_is(page, "#entry-1 .pct", "100%")
                progress = await page.evaluate("window.progress")
                assert len(set(progress)) > 2, progress  # it went up in steps
                # The temp files are under the configured folder while not consumed.
                parts = list(uploads.rglob("*.part"))
                assert sorted(p.stat().st_size for p in parts) == [5, len(CONTENT)]
                # Cancel the second entry: it leaves the list and its temp file goes.
                await page.click("#cancel-1")
                await page.wait_for_selector("#entry-1", state="detached")
                assert [p.stat().st_size for p in uploads.rglob("*.part")] == [len(CONTENT)]
                # Errors show for the fields touched only; then a valid submit consumes.
                await page.fill("#f-name", "A")
                await text_is(page, "#name-error", "Expected `str` of length >= 2")
                assert await page.text_content("#email-error") == ""
                await page.fill("#f-name", "Ada")
                await page.fill("#f-email", "ada@example.org")
                await text_is(page, "#name-error", "")
                await page.click("#save")
                digest = hashlib.sha256(CONTENT).hexdigest()[:16]
                await text_is(page, "#avatars li", f"me.png: {len(CONTENT)} bytes, sha256 {digest}")
                await text_is(page, "#saved", "Saved Ada <ada@example.org>")
                assert await page.query_selector("#entry-0") is None
                assert list(uploads.rglob("*.part")) == []
                # A slow reload keeps the page answering; the old result shows meanwhile.
                await page.click("#reload")
                await text_is(page, "#stats-body", "43 visits")
            finally:
                await browser.close()
        await hub.stop()
    assert list(uploads.iterdir()) == []  # the hub's folder went with it


async def test_a_submit_waits_for_its_files(tmp_path: Path) -> None:
    """Save clicked while the file is still going up: the submit goes once the last
    chunk is answered, so the view consumes the whole file."""
    big = tmp_path / "big.gif"
    content = bytes(reversed(range(256))) * 8000  # 2 048 000 bytes: 63 chunks
    big.write_bytes(content)
    async with ActorSystem("browser-profile-wait", seed=4) as system:
        hub = LiveHub(
            system,
            {"settings": SettingsView(stats_delay=0.01, max_file_size=4_000_000)},
            config=LiveConfig(upload_dir=str(tmp_path / "uploads")),
        )
        async with serving(LiveRoutes(hub).routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/settings")
                await page.fill("#f-name", "Bob")
                await page.fill("#f-email", "bob@example.org")
                await page.set_input_files("#lf-upload-avatar", str(big))
                shown = await page.evaluate(
                    "() => (document.querySelector('#entry-0 .pct') || {}).textContent || ''"
                )
                assert shown != "100%"  # still going up when Save is clicked
                await page.click("#save")
                digest = hashlib.sha256(content).hexdigest()[:16]
                await text_is(
                    page, "#avatars li", f"big.gif: {len(content)} bytes, sha256 {digest}"
                )
                await text_is(page, "#saved", "Saved Bob <bob@example.org>")
            finally:
                await browser.close()
        await hub.stop()


class Ping(msgspec.Struct, frozen=True, tag="ping"):
    pass


class Send(msgspec.Struct, frozen=True, tag="send"):
    pass


class Manual(msgspec.Struct, frozen=True):
    doc: Upload
    pings: int = 0
    sent: str = ""


MANUAL = Template(
    '<form id="f" lf-submit="send">{input}<button id="go">Send</button></form>'
    '<p id="pct">{pct}</p><p id="pings">{pings}</p><p id="sent">{sent}</p>'
    '<button id="ping" lf-click="ping">ping</button>'
)


class ManualUpload(LiveView[Manual, Ping | Send]):
    def mount(self, params: Params, session: SessionInfo) -> Manual:
        return Manual(allow_upload("doc", accept="any", auto_upload=False, chunk_size=4096))

    def handle_event(self, event: Ping | Send, state: Manual) -> Manual:
        if isinstance(event, Ping):
            return msgspec.structs.replace(state, pings=state.pings + 1)
        sizes, doc = consume_uploaded_entries(state.doc, lambda path, e: path.stat().st_size)
        return msgspec.structs.replace(state, doc=doc, sent=f"sent {sum(sizes)} bytes")

    def render(self, state: Manual) -> Rendered:
        pct = " ".join(f"{e.client_name} {e.progress}%" for e in state.doc.entries)
        return MANUAL(input=live_file_input(state.doc), pct=pct, pings=state.pings, sent=state.sent)


async def test_files_of_a_manual_upload_wait_for_the_submit(tmp_path: Path) -> None:
    doc = tmp_path / "doc.bin"
    doc.write_bytes(b"x" * 50_000)
    async with ActorSystem("browser-manual", seed=5) as system:
        hub = LiveHub(
            system, {"manual": ManualUpload()}, config=LiveConfig(upload_dir=str(tmp_path / "u"))
        )
        async with serving(LiveRoutes(hub).routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/manual")
                await page.set_input_files("#lf-upload-doc", str(doc))
                await text_is(page, "#pct", "doc.bin 0%")  # checked, not sent
                for n in ("1", "2"):
                    await page.click("#ping")
                    await text_is(page, "#pings", n)
                assert await page.text_content("#pct") == "doc.bin 0%"
                await page.click("#go")
                await text_is(page, "#sent", "sent 50000 bytes")
            finally:
                await browser.close()
        await hub.stop()


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A valid RGB PNG (so the browser can decode the preview)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def test_a_chosen_image_is_previewed_from_the_browser_and_kept_across_patches(
    tmp_path: Path,
) -> None:
    png = tmp_path / "dot.png"
    png.write_bytes(tiny_png())
    async with ActorSystem("browser-preview", seed=6) as system:
        hub = LiveHub(
            system,
            {"settings": SettingsView(stats_delay=0.01)},
            config=LiveConfig(upload_dir=str(tmp_path / "u")),
        )
        async with serving(LiveRoutes(hub).routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/settings")
                await page.set_input_files("#lf-upload-avatar", str(png))
                width = "() => (document.querySelector('#lf-preview-avatar-0') || {}).naturalWidth"
                await page.wait_for_function(f"({width})() === 3")
                src = await page.get_attribute("#lf-preview-avatar-0", "src")
                assert src is not None and src.startswith("blob:")
                await page.fill("#f-name", "Ada")  # more patches: the preview stays
                await text_is(page, "#entry-0 .pct", "100%")
                assert await page.get_attribute("#lf-preview-avatar-0", "src") == src
                assert await page.evaluate(width) == 3
            finally:
                await browser.close()
        await hub.stop()
