"""The observer live view in real headless Chromium, against `lightflow serve --demo`.

The page joins its live session over the WebSocket; a kill through the page shows up as
exited and restarted without a reload; without JavaScript the page is a static snapshot.
Needs Debian's chromium at /usr/bin/chromium (driven by the playwright package; never
`playwright install`). Writes test-artifacts/observer.png.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lightflow_actors.testing.chromium import CHROMIUM

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
TOKEN = "browser-test-token"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="needs Debian chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]


@pytest.fixture
def server_url(
    demo_process: Callable[[str], contextlib.AbstractContextManager[str]],
) -> Iterator[str]:
    with demo_process(TOKEN) as url:
        yield url


def launch(chromium: Browser, *, javascript: bool = True) -> BrowserContext:
    """A fresh context (cookies, storage) on the module's Chromium (conftest `chromium`)."""
    return chromium.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
    )


def test_observer_follows_a_crash_and_a_restart(server_url: str, chromium: Browser) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    context = launch(chromium)
    try:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        # The root page links to the observer.
        page.goto(server_url + "/")
        page.get_by_role("link", name="Observer").click()
        page.wait_for_url(server_url + "/observer")
        # Everything below happens in this one page load (a reload would lose this).
        page.evaluate("window.observerLoad = 1")

        # The page joins its live session over the WebSocket.
        expect(page.locator("[data-lf-root]")).to_have_class("lf-connected", timeout=15_000)
        expect(page.locator("#live")).to_have_text("live")
        expect(page.locator(".summary")).to_contain_text("supervisors")

        # This server has a token: the page asks for it once, before acting.
        worker = page.locator('li[data-label="worker-2"]')
        expect(worker).to_have_attribute("data-restarts", "0")
        old_id = worker.get_attribute("data-id")
        worker.locator(":scope > .node").click()
        expect(page.locator('#detail dd[data-field="child id"]')).to_have_text("worker-2")
        assert page.url.endswith(f"/observer?actor={old_id}")
        page.get_by_role("button", name="Kill").click()
        expect(page.locator("#action-result")).to_contain_text("enter the operator token")
        page.fill("#token", TOKEN)
        page.get_by_role("button", name="Use token").click()
        expect(page.locator("#token-ok")).to_be_visible()
        assert TOKEN not in page.content()

        # Kill worker-2: the supervisor restarts it, and the tree, patched over the
        # socket, shows the new actor with one restart; the selection follows it.
        page.get_by_role("button", name="Kill").click()
        expect(page.locator("#action-result")).to_contain_text("killed")
        expect(worker).to_have_attribute("data-restarts", "1", timeout=15_000)
        new_id = worker.get_attribute("data-id")
        assert new_id != old_id
        expect(page.locator('#detail dd[data-field="id"]')).to_have_text(str(new_id))
        expect(page.locator("#events li.exited", has_text="killed").first).to_be_visible()
        expect(page.locator("#events li.restarted").first).to_be_visible()

        # Restart worker-1 through its supervisor.
        first = page.locator('li[data-label="worker-1"]')
        first.locator(":scope > .node").click()
        expect(page.locator('#detail dd[data-field="child id"]')).to_have_text("worker-1")
        page.get_by_role("button", name="Restart").click()
        expect(page.locator("#action-result")).to_contain_text("new actor #")
        expect(first).to_have_attribute("data-restarts", "1", timeout=15_000)

        # A refused action shows the server's message.
        page.locator('li[data-label="lightflow.http.gateway.supervisor"] > .node').click()
        # The selection first (clicked at once, Restart went to worker-1 under load).
        expect(page.locator('#detail dd[data-field="class"]')).to_have_text("Supervisor")
        page.get_by_role("button", name="Restart").click()
        expect(page.locator("#action-result")).to_contain_text("nothing can restart it")
        expect(page.locator("#action-result")).to_have_class("result error")

        assert page.evaluate("window.observerLoad") == 1  # never reloaded
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "observer.png"), full_page=True)
        # The summary and the last ten minutes' charts (README).
        expect(page.locator("#spark-memory")).to_be_visible()
        page.screenshot(
            path=str(ARTIFACTS / "observer-charts.png"),
            clip={"x": 0, "y": 0, "width": 1280, "height": 640},
        )

        # The demo's flaky actor raises (every 20 s): once restarted, its row says
        # after what, and its detail unfolds the last crash's traceback (README).
        flaky = page.locator('li[data-label="flaky"]')
        expect(flaky).to_have_attribute("data-restarts", "1", timeout=60_000)
        expect(flaky.locator(".crash")).to_contain_text("restarted after DemoCrash")
        flaky.locator(":scope > .node").click()
        report = page.locator("#detail details.crash-report")
        expect(report.locator("summary")).to_contain_text("flaky crashed on purpose")
        report.locator("summary").click()
        expect(report.locator("pre.traceback")).to_contain_text("Traceback (most recent")
        expect(report.locator("pre.traceback")).to_contain_text("in tick")
        page.screenshot(path=str(ARTIFACTS / "observer-crash.png"), full_page=True)
    finally:
        context.close()
    assert not errors, errors


def test_observer_without_javascript_is_a_static_snapshot(
    server_url: str, chromium: Browser
) -> None:
    from playwright.sync_api import expect

    context = launch(chromium, javascript=False)
    try:
        page = context.new_page()
        page.goto(server_url + "/observer")
        expect(page.locator("#live")).to_contain_text("static snapshot")
        expect(page.locator('li[data-label="worker-3"]')).to_be_visible()
        # Rows are plain links: the server renders the selected actor's details.
        page.locator('li[data-label="worker-3"] > .node').click()
        expect(page.locator('#detail dd[data-field="child id"]')).to_have_text("worker-3")
        expect(page.locator("#actions-off")).to_be_visible()
        expect(page.locator("#token-form")).to_have_count(0)
    finally:
        context.close()
