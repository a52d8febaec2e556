"""The observer page in real headless Chromium: live tree, crash and restart, actions.

Needs Debian's chromium at /usr/bin/chromium (driven by the playwright package; never
`playwright install`). Writes test-artifacts/observer.png.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
TOKEN = "browser-test-token"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]


@pytest.fixture
def server_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lightflow_actors.cli",
            "serve",
            "--demo",
            "--port",
            "0",
            "--token",
            TOKEN,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "server did not start"
        yield json.loads(line)["url"].rstrip("/")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0


def test_observer_follows_a_crash_and_a_restart(server_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            # The root page links to the observer.
            page.goto(server_url + "/")
            page.get_by_role("link", name="Observer").click()
            page.wait_for_url(server_url + "/observer")

            # This server has a token: the page asks for it before acting or streaming.
            expect(page.locator("#token-form")).to_be_visible()
            page.fill("#token", TOKEN)
            page.get_by_role("button", name="Use token").click()
            expect(page.locator("#live")).to_have_text("live", timeout=15_000)

            worker = page.locator('li[data-label="worker-2"]')
            expect(worker).to_have_attribute("data-restarts", "0")
            old_id = worker.get_attribute("data-id")
            expect(page.locator(".summary")).to_contain_text("supervisors")

            # Kill worker-2 from its detail pane; the supervisor restarts it and the tree,
            # fed by the event stream, shows the new actor with one restart.
            worker.locator(":scope > .node").click()
            expect(page.locator('#detail dd[data-field="child id"]')).to_have_text("worker-2")
            page.get_by_role("button", name="Kill").click()
            expect(page.locator("#action-result")).to_contain_text("killed")
            expect(worker).to_have_attribute("data-restarts", "1", timeout=15_000)
            assert worker.get_attribute("data-id") != old_id
            expect(page.locator("#events li.restarted").first).to_be_visible()
            expect(page.locator("#events li.exited", has_text="killed")).to_be_visible()

            # Restart worker-1 through its supervisor.
            first = page.locator('li[data-label="worker-1"]')
            first.locator(":scope > .node").click()
            page.get_by_role("button", name="Restart").click()
            expect(page.locator("#action-result")).to_contain_text("new actor #")
            expect(first).to_have_attribute("data-restarts", "1", timeout=15_000)

            # A refused action shows the server's message.
            page.locator('li[data-label="lightflow.http.gateway.supervisor"] > .node').click()
            page.get_by_role("button", name="Restart").click()
            expect(page.locator("#action-result")).to_contain_text("nothing can restart it")

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "observer.png"), full_page=True)
        finally:
            context.close()
    assert not [e for e in errors if "409" not in e], errors
