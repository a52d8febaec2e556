"""Real browser against a real server process that restarts (specs/live-wire.md §7).

The examples app runs in a subprocess with its own XDG state dir. After a restart
with the same token key file the page rejoins without a reload (the counter keeps
its count in the URL); after a restart with a new key the join is refused and the
page reloads itself once, then works.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from ..live.live_server import free_port
from .test_browser import ARGS, CHROMIUM, async_playwright, text_is

APP = Path(__file__).resolve().parents[2] / "examples" / "live" / "app.py"

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.skipif(async_playwright is None, reason="playwright is not installed"),
]


class AppProcess:
    """``examples/live/app.py`` on `port` with `state` as its XDG state dir."""

    def __init__(self, port: int, state: Path) -> None:
        self.port = port
        self.state = state
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, "XDG_STATE_HOME": str(self.state)}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(APP),
            "--port",
            str(self.port),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(500):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert self.proc.returncode is None, "the example app exited"
            await asyncio.sleep(0.02)
        raise AssertionError("the example app never listened")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()  # as a crash or a deploy would: no goodbye to the browsers
            await asyncio.wait_for(self.proc.wait(), 10)
        self.proc = None


@asynccontextmanager
async def restarting_app(tmp_path: Path) -> AsyncIterator[tuple[AppProcess, object]]:
    app = AppProcess(free_port(), tmp_path / "state")
    await app.start()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                yield app, browser
            finally:
                await browser.close()
    finally:
        await app.stop()


async def test_a_server_restart_rejoins_without_a_reload(tmp_path: Path) -> None:
    async with restarting_app(tmp_path) as (app, browser):
        page = await browser.new_page()  # type: ignore[attr-defined]
        await page.goto(f"http://127.0.0.1:{app.port}/live/counter?count=5")
        await page.wait_for_selector("[data-lf-status=connected]")
        await page.evaluate("window.marker = 'kept'")
        await page.click("#inc")
        await text_is(page, "#count", "6")
        await app.stop()
        await page.wait_for_selector("[data-lf-status=disconnected]")
        await app.start()
        await page.wait_for_selector("[data-lf-status=connected]", timeout=10_000)
        assert await page.evaluate("window.marker") == "kept"  # no reload
        await text_is(page, "#count", "6")  # the count the view keeps in the URL
        await page.click("#inc")
        await text_is(page, "#count", "7")
        key = tmp_path / "state" / "lightflow" / "live" / "secret.key"
        assert key.stat().st_mode & 0o777 == 0o600


async def test_a_refused_rejoin_reloads_the_page_once(tmp_path: Path) -> None:
    async with restarting_app(tmp_path) as (app, browser):
        page = await browser.new_page()  # type: ignore[attr-defined]
        loads: list[str] = []
        page.on("load", lambda: loads.append(page.url))
        await page.goto(f"http://127.0.0.1:{app.port}/live/counter?count=2")
        await page.wait_for_selector("[data-lf-status=connected]")
        await page.evaluate("window.marker = 'kept'")
        await app.stop()
        (tmp_path / "state" / "lightflow" / "live" / "secret.key").unlink()  # a new key
        await page.wait_for_selector("[data-lf-status=disconnected]")
        await app.start()
        await page.wait_for_function("window.marker === undefined", timeout=10_000)
        await page.wait_for_selector("[data-lf-status=connected]", timeout=10_000)
        await text_is(page, "#count", "2")
        await page.click("#inc")
        await text_is(page, "#count", "3")
        assert len(loads) == 2  # the first load and one reload, no loop
        assert await page.evaluate("sessionStorage.getItem('lightflow:reloads')") is None
