"""The runs page in real headless Chromium, against a runs server process (the test assets
and a mock provider that takes 0.25 s per answer and refuses step 5 of `chain` while a
gate file exists).

From the root page to the runs list; enter the token; a new run from the list's form,
its graph turning green step by step; a failed run's page: retry from the failure, and
watch the remaining steps turn green one after the other without a reload; a step
opened; a re-run from the generated form; the two runs compared. Every page is
screenshotted into test-artifacts/. Needs Debian's chromium at /usr/bin/chromium
(driven by the playwright package; never `playwright install`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from lightflow_actors.testing.chromium import CHROMIUM

from ...runs._support import RunsEnv, ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"
TOKEN = "runs-browser-token"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="needs Debian chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]


SAME_AS_FULL = """() => {
  const live = window.lightflowLive.socket, L = window.LightflowLive;
  const strip = (html) => {
    const t = document.createElement("template");
    t.innerHTML = html;
    t.content.querySelectorAll("[data-lf-id]").forEach((e) => e.removeAttribute("data-lf-id"));
    return t.innerHTML;
  };
  return [strip(live.root.innerHTML), strip(L.merge.toHtml(live.state))];
}"""
"""The live root's HTML and the HTML of a full render of the client's state."""


def launch(chromium: Browser) -> BrowserContext:
    """A fresh context (cookies, storage) on the module's Chromium (conftest `chromium`)."""
    return chromium.new_context(viewport={"width": 1280, "height": 1000})


def settle(http: httpx.Client, run_id: str) -> None:
    with http.stream("GET", f"/runtime/streams/{run_id}/events.sse") as stream:
        for _ in stream.iter_bytes():
            pass


def test_watch_retry_rerun_and_compare_runs(tmp_path: Path, gate: Path, chromium: Browser) -> None:
    from playwright.sync_api import expect

    # The fixture sleeps 0.25 s in a sync function: declared `blocking`, as such a provider
    # should be, it runs on a worker thread. Left on the loop (ADR 0122), its calls hold
    # the server's loop back to back; the page still shows the run half done (ADR 0135,
    # `test_feed_schedules.py`), and the server reports the slow calls.
    env = RunsEnv(tmp_path, provider="slow_gated_chat", blocking=True)
    server = ServerProcess(env, token=TOKEN)
    errors: list[str] = []
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with server.client() as http:
            assert http.post("/runs", json={"workflow": "chain", "id": "c1"}, headers=auth)
            greet = {"workflow": "greet", "inputs": {"name": "Ada"}, "id": "g1"}
            assert http.post("/runs", json=greet, headers=auth).status_code == 201
            settle(http, "c1")
            settle(http, "g1")
        context = launch(chromium)
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            # The root page links the runs page; the list shows both runs.
            page.goto(server.url + "/")
            page.get_by_role("link", name="Workflow runs").click()
            page.wait_for_url(server.url + "/runs")
            page.evaluate("window.runsLoad = 1")
            expect(page.locator("[data-lf-root]")).to_have_class("lf-connected", timeout=15_000)
            expect(page.locator('tr[data-run="c1"]')).to_have_attribute("data-status", "failed")
            expect(page.locator('tr[data-run="g1"]')).to_have_attribute("data-status", "succeeded")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "runs-list.png"), full_page=True)

            # A new run from the list's form: its graph goes green step by step.
            page.fill("#token", TOKEN)
            page.get_by_role("button", name="Use token").click()
            expect(page.locator("#token-ok")).to_be_visible()
            page.select_option("#new-workflow", "fanout")
            page.fill('#new-run-form textarea[name="inputs"]', '{"topic": "tea"}')
            page.locator("#create-submit").click()
            # Seen mid-way: the first step green while the last one is not yet.
            page.wait_for_function(
                "document.querySelector('#node-plan[data-status=succeeded]') !== null"
                " && document.querySelector('#node-tell[data-status=succeeded]') === null",
                polling="raf",
                timeout=20_000,
            )
            assert "run=fanout-" in page.url
            for step in ("plan", "left", "right", "join", "tell"):
                expect(page.locator(f"#node-{step}")).to_have_attribute(
                    "data-status", "succeeded", timeout=20_000
                )
            page.locator("#all-runs").click()
            expect(page.locator('tr[data-run^="fanout-"]')).to_have_attribute(
                "data-status", "succeeded"
            )
            # A patch that does not merge: the client asks for a full render, and the
            # rows come back with it (not only at the next listing).
            listed = page.locator("#runs-rows tr").count()
            assert listed == 3
            page.evaluate(
                """() => new Promise((done) => {
                    const live = window.lightflowLive.socket;
                    live.root.addEventListener("lf:joined", () => done(), {once: true});
                    live.onPatch({d: {r: {"999": "not a slot"}}});
                })"""
            )
            expect(page.locator("#runs-rows tr")).to_have_count(listed)
            expect(page.locator('tr[data-run="c1"]')).to_have_attribute("data-status", "failed")

            # The failed run: its DAG, s5 red; retry from the page.
            page.locator('tr[data-run="c1"] a').click()
            expect(page.locator("#run")).to_have_attribute("data-status", "failed")
            expect(page.locator("#node-s5")).to_have_attribute("data-status", "failed")
            expect(page.locator("#node-s4")).to_have_attribute("data-status", "succeeded")
            assert TOKEN not in page.content()
            os.remove(gate)
            page.get_by_role("button", name="Retry from the failure").click()
            expect(page.locator("#action-result")).to_contain_text("retrying c1")
            # The rest turns green one step after the other, live.
            for n in range(5, 11):
                expect(page.locator(f"#node-s{n}")).to_have_attribute(
                    "data-status", "succeeded", timeout=20_000
                )
            expect(page.locator("#run")).to_have_attribute("data-status", "succeeded")
            # Finished steps were reused: s1 ran once, s5 more than once.
            expect(page.locator("#node-s1")).to_have_attribute("data-attempts", "1")
            assert page.locator("#node-s5").get_attribute("data-attempts") != "1"
            page.locator("#node-s10").click()
            expect(page.locator("#step-id")).to_have_text("s10")
            expect(page.locator("#step-output")).to_contain_text("done: step 10 after")
            expect(page.locator('dd[data-field="route"]')).to_contain_text("provider mock")
            # Painted patch by patch (values set in place, regions), the page is what a
            # full render of the client's state writes.
            got, want = page.evaluate(SAME_AS_FULL)
            assert got == want
            # The page is the server's (a stale template shape after the resync once wrote
            # data-lf-id inside this heading and struck the page through with <s>).
            expect(page.locator("#rerun h3")).to_have_text("Re-run with changed inputs")
            assert page.locator("[data-lf-root] s").count() == 0
            page.screenshot(path=str(ARTIFACTS / "runs-run.png"), full_page=True)
            assert page.evaluate("window.runsLoad") == 1  # list -> run -> retry, no reload

            # Re-run g1 with a changed input from the generated form.
            page.goto(server.url + "/runs?run=g1")
            expect(page.locator("[data-lf-root]")).to_have_class("lf-connected", timeout=15_000)
            page.fill("#token", TOKEN)
            page.get_by_role("button", name="Use token").click()
            expect(page.locator("#token-ok")).to_be_visible()
            name = page.locator('#rerun-form input[name="f0"]')
            expect(name).to_have_value("Ada")
            name.fill("Grace")
            page.locator("#rerun-submit").click()
            expect(page.locator("#action-result")).to_contain_text("created run")
            expect(page.locator("#node-hello")).to_have_attribute(
                "data-status", "succeeded", timeout=20_000
            )
            other = page.locator("#run").get_attribute("data-run")
            assert other and other != "g1"
            assert f"run={other}" in page.url

            # Compare the new run with g1: the changed input is highlighted.
            page.select_option('#compare-form select[name="compare"]', "g1")
            page.locator("#compare-submit").click()
            expect(page.locator("#compare")).to_be_visible()
            expect(page.locator('tr[data-input="name"]')).to_have_attribute("data-differs", "yes")
            expect(page.locator('tr[data-step="hello"]')).to_contain_text("Greet Grace")
            expect(page.locator('tr[data-step="hello"]')).to_contain_text("Greet Ada")
            page.screenshot(path=str(ARTIFACTS / "runs-compare.png"), full_page=True)
        finally:
            context.close()
    finally:
        server.stop()
    assert not errors, errors
