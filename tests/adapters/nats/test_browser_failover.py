"""Acceptance: a browser's session survives `kill -9` of its node (issue 16, item 3).

Two `lightflow serve --cluster` processes (nodes a and b) on one nats-server, and a TCP
proxy in front of them standing for a load balancer. Chromium opens the tally (a count
kept only in the session, not in the URL) through the proxy, which sends it to node a,
and counts to 7. Node a is killed with SIGKILL; the proxy now sends new connections to
node b. The page reconnects by itself, without a reload, to node b, which rehydrates the
session from its snapshot in the `lf_sessions` bucket: it shows 7, and the next click 8.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import nats
import pytest

from lightflow_actors.adapters.nats import SESSIONS_BUCKET
from lightflow_actors.live import SessionSnapshot
from lightflow_actors.live_examples.tally import TallyState

from ...live_examples.test_browser import ARGS, CHROMIUM, async_playwright, text_is
from ...tcp_proxy import TcpProxy
from ._servers import NatsServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.skipif(async_playwright is None, reason="playwright is not installed"),
]


@contextmanager
def serve_node(name: str, cluster: str, home: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`lightflow serve --cluster` as node `name`: its process and port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTFLOW_")}
    env["XDG_STATE_HOME"] = str(home / name / "state")
    env["XDG_CONFIG_HOME"] = str(home / name / "config")
    log = (home / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lightflow_actors.cli", "serve", "--port", "0",
         "--cluster", cluster, "--node", name],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, (home / f"{name}.log").read_text()
        port = int(json.loads(line)["url"].rstrip("/").rsplit(":", 1)[1])
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


async def saved_counts(url: str) -> list[int]:
    """The tally counts kept in the sessions bucket (read by a client of the test's own)."""
    client = await nats.connect(url)
    try:
        kv = await client.jetstream().key_value(SESSIONS_BUCKET)
        counts: list[int] = []
        try:
            keys = await kv.keys()
        except Exception:  # no keys yet
            return []
        for key in keys:
            snapshot = msgspec.msgpack.decode((await kv.get(key)).value, type=SessionSnapshot)
            if snapshot.view == "tally":
                counts.append(msgspec.msgpack.decode(snapshot.state, type=TallyState).count)
        return counts
    finally:
        await client.close()


async def test_a_page_keeps_its_count_when_its_node_is_killed(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    with (
        serve_node("a", nats_server.url, tmp_path) as (node_a, port_a),
        serve_node("b", nats_server.url, tmp_path) as (_node_b, port_b),
    ):
        proxy = await TcpProxy(port_a).start()
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    page = await browser.new_page()
                    await page.goto(f"http://127.0.0.1:{proxy.port}/live/tally")
                    await page.wait_for_selector("[data-lf-status=connected]")
                    await page.evaluate("window.marker = 'kept'")
                    for n in range(1, 8):
                        await page.click("#add")
                        await text_is(page, "#count", str(n))
                    for _ in range(200):  # the snapshot of 7 is in JetStream
                        if 7 in await saved_counts(nats_server.url):
                            break
                        await page.wait_for_timeout(25)
                    else:
                        raise AssertionError("the count 7 never reached the sessions bucket")

                    node_a.send_signal(signal.SIGKILL)  # kill -9: no goodbye, no flush
                    node_a.wait(30)
                    proxy.retarget(port_b)  # the load balancer sends the page to node b
                    await page.wait_for_selector("[data-lf-status=disconnected]")
                    await page.wait_for_selector("[data-lf-status=connected]", timeout=30_000)
                    assert await page.evaluate("window.marker") == "kept"  # no reload
                    await text_is(page, "#count", "7")
                    await page.click("#add")
                    await text_is(page, "#count", "8")
                    assert "(8 clicks)" in await page.inner_text(".tally")
                finally:
                    await browser.close()
        finally:
            await proxy.close()
    log_b = (tmp_path / "b.log").read_text()
    assert "Traceback" not in log_b, log_b[-3000:]
