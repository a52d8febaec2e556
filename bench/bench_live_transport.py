"""Live transport benchmark: what a browser pays on the wire and the server per session.

Everything runs against the examples app in a Hypercorn subprocess on 127.0.0.1.

1. First load: the 1 000-row table page and the client script as a browser fetches
   them (``Accept-Encoding: gzip``), bytes on the wire; baseline: the same responses
   uncompressed (``Accept-Encoding: identity``).
2. A counter click in Chromium through a byte-counting TCP proxy: every byte of the
   WebSocket both ways (frames, acks, permessage-deflate on) per click, averaged over
   clicks in a row and over clicks one second apart (acks then cannot ride along).
   Baselines, each frame pair sent through an echo socket with deflate, numbers changing
   from click to click as on a real connection: the submit and its patch alone (one
   frame each way, the least any protocol with acks off could send); the same click in
   Phoenix LiveView's V2 serializer (event up, phx_reply with the diff down; Phoenix
   sends no acks); and re-sending the counter's whole HTML on each click. Measured
   2026-12-07: 43 B a click in a row, 50 B one second apart; submit+patch 33 B,
   Phoenix-style 27 B, full HTML 305 B. The patch also carries the counter's URL
   (``nav``, ~10 B compressed), which the Phoenix-style reply leaves out.
3. Memory per idle counter session over a real WebSocket: server RSS grown by
   ``SESSIONS`` joined counter sessions (wsproto clients, with and without
   permessage-deflate); baseline: the same number of bare Starlette echo sockets.
4. ``--breakdown``: where that memory goes. The server runs under tracemalloc; the
   bytes allocated per session (``TRACED_SESSIONS`` joined counters, one event each)
   by the part of the stack that allocated them (transport actor, session actor,
   diff state, Hypercorn, wsproto, zlib, asyncio, ...), beside the same parts for a
   bare echo socket in the same server. Measured 2026-12-07 (ADR 0099), loaded machine
   (2 cores, 7 engineers), 200 sessions: without deflate 36.4 KB a session (echo
   21.3 KB): asyncio 5.8 (echo 5.4), hypercorn 5.5 (5.5), starlette 5.0 (5.2), ws
   transport actor 4.4, live session/program/view 4.4, kernel cells 4.2, h11 1.9 (1.6),
   wsproto 1.8 (1.7), ISA connection 1.0, diff state 0.45, supervision 0.44; with
   deflate 54.4 KB (echo 39.1 KB): the server's compressor 9.2 (created in
   ws/_deflate.py, counted under the transport) and wsproto's inflater 7.9, the same in
   both. RSS in the same kind of run: 32.3 KB (echo 16.5 KB) without deflate, 50.4 KB
   (echo 32.2 KB) with; after lean_hypercorn's lists and the h11 release (ADR 0099),
   30.2 KB (echo 16.5 KB) and 46.7 KB (echo 29.5 KB). ADR 0108 (the socket served in
   front of Starlette's routing, as the bench server and `lightflow serve` now do; idle
   actors drop their mailbox deque), 1 000 sessions: 33.5 KB -> 27.2 KB RSS (echo 19.9
   and 19.2 KB in the two runs), traced 33.3 -> 27.6 KB (echo 18.8 KB); with the
   smaller monitors, supervisor records, version sets and sets (ADR 0108): 23.9 KB RSS
   (echo 19.2 KB), traced 24.6 KB; 21.7 KB (echo 16.9 KB) over 400 sessions.
   ADR 0114 (``--memory --sessions 1000``; Hypercorn's connections served as one
   protocol object, no stream pair or server task per open WebSocket; the handshake's
   headers let go; the upload folder kept as text), 1 000 sessions, same hour:
   24.3 KB -> 20.9 KB RSS (echo 19.2 -> 15.6 KB: the echo socket is served by the same
   connection object), traced 24.9 -> 18.2 KB (echo 19.1 -> 14.3 KB). RSS is now read
   after a full collection in the server (``GET /gc``); medians of 3 runs, alternating,
   load average 8-26: before ADR 0114 25.9 KB (echo 18.6 KB), 42.3 KB with deflate
   (echo 34.7 KB); after it 18.9 KB (echo 15.7 KB), 37.2 KB with deflate (echo 32.2 KB).
5. Event -> patch over each transport (ADR 0101): a counter click's round trip (the
   submit out, its patch back) over server-sent events + POST and over long-polling,
   p50 and p99, each beside the same figure over a WebSocket measured in the same run,
   the three interleaved round by round (they see the same load). Twice: Python peers
   (`WebSocketView`, `HttpTransportView`: the server and the protocol alone), and
   Chromium pages forced onto each transport (``lightflowLiveOptions.transport``: the
   real client, click to painted count). ``--latency`` runs this part alone. Measured
   2026-12-07, loaded machine, p50 (WebSocket in the same run): Chromium SSE 16.7 ms
   (8.2 ms), long-poll 26.3 ms (8.2 ms); peers SSE 17.3 ms (3.8 ms), long-poll 28.3 ms
   (3.8 ms). A fallback pays an HTTP request per batch of frames up (and, long-polling,
   one per batch down), each a few ms of parsing and routing on a loaded 2-core box.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec

from bench._live_server import free_port, serve
from bench._report import percentile, row
from lightflow_actors.live import HttpTransportView, WebSocketClient, WebSocketView
from lightflow_actors.testing.chromium import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[1]
SESSIONS = 400
HAVE_CHROMIUM = os.path.exists(CHROMIUM)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Server:
    def __init__(self, *, traced: bool = False) -> None:
        self.port = free_port()
        self.traced = traced
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Server:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.bench_live_transport",
            "--serve-traced" if self.traced else "--serve",
            str(self.port),
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        if (await self.process.stdout.readline()).strip() != b"ready":
            raise RuntimeError("the bench server did not start")
        for _ in range(500):  # "ready" comes just before Hypercorn binds
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.01)
                continue
            writer.close()
            return self
        raise RuntimeError("the bench server never listened")

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        await self.process.wait()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/live"

    @property
    def rss(self) -> int:
        assert self.process is not None
        return _rss(self.process.pid)

    async def collected_rss(self) -> int:
        """RSS after a full collection in the server (``GET /gc``)."""
        async with httpx.AsyncClient() as http:
            (await http.get(f"http://127.0.0.1:{self.port}/gc", timeout=120)).raise_for_status()
        return self.rss


# -- 1. first load ----------------------------------------------------------------------


async def first_load(server: Server) -> None:
    async with httpx.AsyncClient() as http:
        for label, path in (("table page", "/table"), ("client JS", "/static/lightflow-live.js")):
            sizes = {}
            for encoding in ("gzip", "identity"):
                response = await http.get(server.base + path, headers={"Accept-Encoding": encoding})
                response.raise_for_status()
                sizes[encoding] = response.num_bytes_downloaded
            row(f"first load: {label} (gzip)", sizes["gzip"], "B", sizes["identity"], "identity")


# -- 2. a counter click in Chromium -------------------------------------------------------


class CountingProxy:
    """A TCP proxy to the server that counts the bytes each way."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.up = 0
        self.down = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, up: bool) -> None:
            try:
                while data := await r.read(65536):
                    if up:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))

    @property
    def total(self) -> int:
        return self.up + self.down


async def counter_click(server: Server) -> None:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        print("counter click: playwright is not installed; skipped", flush=True)
        return
    if not HAVE_CHROMIUM:
        print(f"counter click: {CHROMIUM} is not installed; skipped", flush=True)
        return
    proxy = CountingProxy(server.port)
    await proxy.start()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        frames: list[tuple[str, str]] = []
        page.on(
            "websocket",
            lambda ws: (
                ws.on("framesent", lambda p: frames.append(("up", str(p)))),
                ws.on("framereceived", lambda p: frames.append(("down", str(p)))),
            ),
        )
        await page.goto(f"http://127.0.0.1:{proxy.port}/live/counter?count=0")
        await page.wait_for_selector("[data-lf-status=connected]")
        await asyncio.sleep(1.5)  # let the join's acks settle

        async def clicks(n: int, pause: float) -> float:
            start = proxy.total
            count = int(await page.text_content("#count") or "0")
            for i in range(n):
                await page.click("#inc")
                await page.wait_for_function(
                    "n => document.querySelector('#count').textContent === String(n)",
                    arg=count + i + 1,
                )
                await asyncio.sleep(pause)
            await asyncio.sleep(1.5)  # acks that follow the last click
            return (proxy.total - start) / n

        rapid = await clicks(50, 0.0)
        spaced = await clicks(8, 1.0)
        frames.clear()
        await page.click("#inc")
        await page.wait_for_function("document.querySelector('#count').textContent !== ''")
        await asyncio.sleep(1.5)
        await browser.close()
    print("one click's frames:", *(f"{way} {text}" for way, text in frames), sep="\n  ")
    floor = await _each_way(server, _submit, _patch)
    phoenix = await _each_way(server, _phx_event, _phx_reply)
    full_html = await _each_way(server, _submit, await _counter_render())
    for label, per_click in (("in a row", rapid), ("1 s apart", spaced)):
        row(f"counter click, {label}: wire B/click", per_click, "B", floor, "submit+patch")
        row(f"counter click, {label}: wire B/click", per_click, "B", phoenix, "Phoenix-style")
        row(f"counter click, {label}: wire B/click", per_click, "B", full_html, "full HTML")


# One counter click as frames, the n-th of a run (the sequence numbers, ref and count
# change from click to click, as they do on a real connection: a compressor with context
# takeover would turn the same frame sent again into a few bytes), and the same click in
# Phoenix LiveView 1.x's V2 JSON serializer ([join_ref, ref, topic, event, payload]: a
# click event up, its phx_reply with the diff down; Phoenix sends no acks).
def _submit(n: int) -> str:
    return (
        f'{{"kind":"instruction","v":1,"seq":{n},"instruction":{{"op":"submit","event":"inc",'
        f'"payload":{{"by":"1"}},"ref":"{n}"}}}}'
    )


def _patch(n: int) -> str:
    return (
        f'{{"kind":"instruction","v":1,"seq":{n},"instruction":{{"op":"patch",'
        f'"diff":{{"d":{{"r":{{"0":"{n}"}}}},"ref":"{n}"}}}}}}'
    )


def _phx_event(n: int) -> str:
    return (
        f'["4","{n}","lv:phx-GBsi_6M7paYhySQj","event",'
        f'{{"type":"click","event":"inc","value":{{"by":"1"}}}}]'
    )


def _phx_reply(n: int) -> str:
    return (
        f'["4","{n}","lv:phx-GBsi_6M7paYhySQj","phx_reply",'
        f'{{"status":"ok","response":{{"diff":{{"0":"{n}"}}}}}}]'
    )


async def _counter_render() -> Callable[[int], str]:
    """The counter's whole HTML as one frame (its count n): what re-sending the view on
    each click would send."""
    from lightflow_actors.live_examples.counter import counter
    from lightflow_actors.testing.live import live_test

    async with live_test({"counter": counter}) as live:
        view = await live.mount("counter", {"count": "7"})
        html = view.html()
    assert ">7<" in html, html

    def frame(n: int) -> str:
        rendered = html.replace(">7<", f">{n}<")
        return msgspec.json.encode({"kind": "html", "seq": n, "html": rendered}).decode()

    return frame


async def _each_way(server: Server, up: Callable[[int], str], down: Callable[[int], str]) -> float:
    """Wire bytes of an `up` frame sent and a `down` frame received, each alone, through
    an echo socket with permessage-deflate (warm: 20 clicks before the 50 counted)."""
    proxy = CountingProxy(server.port)
    await proxy.start()
    ws = await WebSocketClient.connect("127.0.0.1", proxy.port, "/echo", deflate=True)
    sizes = []
    for frame in (up, down):
        for n in range(40, 60):
            await ws.send_text(frame(n))
            await ws.receive_text()
        start = proxy.total
        for n in range(60, 110):
            await ws.send_text(frame(n))
            await ws.receive_text()
        sizes.append((proxy.total - start) / 50)  # the frame up, then echoed down
    await ws.close()
    return sum(sizes) / 2


# -- 3. memory per idle session -----------------------------------------------------------


async def memory(deflate: bool) -> None:
    """RSS per session and per bare echo socket, each measured in a fresh server process
    (memory freed by one measurement would otherwise be reused by the next)."""
    async with Server() as server:
        http = httpx.AsyncClient(limits=httpx.Limits(max_connections=20))
        await WebSocketView.open(server.base, "counter", http=http, deflate=deflate)  # warm up
        await asyncio.sleep(0.5)
        before = await server.collected_rss()
        views = [
            await WebSocketView.open(
                server.base, "counter", {"count": str(i)}, http=http, deflate=deflate
            )
            for i in range(SESSIONS)
        ]
        for view in views:  # one event each: both deflate contexts exist, as in a browser
            await view.push("inc", {"by": 1})
        await asyncio.sleep(1.0)
        used = (await server.collected_rss() - before) / SESSIONS
        for view in views:  # every session is still there (none timed out meanwhile)
            await view.push("inc", {"by": 1})
            await view.close()
        await http.aclose()
    async with Server() as server:
        warm = await WebSocketClient.connect("127.0.0.1", server.port, "/echo", deflate=deflate)
        await warm.send_text('{"kind":"ping","v":1,"seq":1}')
        await warm.receive_text()
        await asyncio.sleep(0.5)
        before = await server.collected_rss()
        echoes = [
            await WebSocketClient.connect("127.0.0.1", server.port, "/echo", deflate=deflate)
            for _ in range(SESSIONS)
        ]
        for ws in echoes:
            await ws.send_text('{"kind":"ping","v":1,"seq":1}')
            await ws.receive_text()
        await asyncio.sleep(1.0)
        used_echo = (await server.collected_rss() - before) / SESSIONS
        for ws in [warm, *echoes]:
            await ws.close()
    label = "with deflate" if deflate else "no deflate"
    row(f"idle counter session over WS ({label}), RSS", used, "B", used_echo, "echo socket")


# -- 4. where an idle session's memory goes --------------------------------------------

TRACED_SESSIONS = 200
PARTS = (  # (part of the path of the allocating file, the name it is reported under)
    ("lightflow_actors/kernel", "kernel (cells, mailboxes, links)"),
    ("lightflow_actors/supervision", "supervision (child records)"),
    ("lightflow_actors/live/_diff", "live diff state (fingerprints)"),
    ("lightflow_actors/live/_rendered", "live rendered tree"),
    ("lightflow_actors/live/_template", "live rendered tree"),
    ("lightflow_actors/live/", "live session/program/view state"),
    ("lightflow_actors/adapters/ws", "ws transport actor"),
    ("lightflow_actors/isa", "ISA connection (seq, acks)"),
    ("lightflow_actors/", "lightflow other"),
    ("wsproto/extensions", "permessage-deflate (zlib contexts)"),
    ("wsproto", "wsproto connection"),
    ("hypercorn", "hypercorn (tasks, stream, buffers)"),
    ("h11", "h11 (the upgrade request)"),
    ("starlette", "starlette (scope, websocket)"),
    ("asyncio", "asyncio (transport, tasks, futures)"),
    ("msgspec", "msgspec"),
)


def _part(filename: str) -> str:
    return next((name for key, name in PARTS if key in filename), "other: " + Path(filename).name)


async def _traced(server: Server, path: str) -> list[tuple[str, float, float]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{server.port}{path}", timeout=120)
        return [tuple(r) for r in response.json()]  # type: ignore[misc]


async def breakdown(deflate: bool) -> None:
    """tracemalloc in the server: what each idle counter session holds, by the part of
    the stack that allocated it, beside a bare echo socket's parts (same server)."""
    n = TRACED_SESSIONS
    async with Server(traced=True) as server:
        http = httpx.AsyncClient(limits=httpx.Limits(max_connections=20))
        warm = await WebSocketView.open(server.base, "counter", http=http, deflate=deflate)
        await warm.push("inc", {"by": 1})
        await _traced(server, "/trace/mark")
        views = []
        for i in range(n):  # each pushes at once (tracing is slow: no heartbeat times out)
            view = await WebSocketView.open(
                server.base, "counter", {"count": str(i)}, http=http, deflate=deflate
            )
            await view.push("inc", {"by": 1})
            views.append(view)
        await asyncio.sleep(0.5)
        live = await _traced(server, f"/trace/diff?n={n}")
        echo_warm = await WebSocketClient.connect(
            "127.0.0.1", server.port, "/echo", deflate=deflate
        )
        await echo_warm.send_text('{"kind":"ping","v":1,"seq":1}')
        await echo_warm.receive_text()
        await _traced(server, "/trace/mark")
        echoes = [
            await WebSocketClient.connect("127.0.0.1", server.port, "/echo", deflate=deflate)
            for _ in range(n)
        ]
        for ws in echoes:
            await ws.send_text('{"kind":"ping","v":1,"seq":1}')
            await ws.receive_text()
        await asyncio.sleep(0.5)
        echo = await _traced(server, f"/trace/diff?n={n}")
        for view in [warm, *views]:
            await view.close()
        for ws in [echo_warm, *echoes]:
            await ws.close()
        await http.aclose()
    label = "with deflate" if deflate else "no deflate"
    parts: dict[str, list[float]] = {}
    for rows, column in ((live, 0), (echo, 1)):
        for filename, size, _count in rows:
            parts.setdefault(_part(filename), [0.0, 0.0])[column] += size
    print(f"idle counter session ({label}), traced bytes per session by part:", flush=True)
    for name, (mine, bare) in sorted(parts.items(), key=lambda kv: -abs(kv[1][0])):
        if abs(mine) >= 64 or abs(bare) >= 64:
            print(f"  {name:<44} {mine:>9,.0f} B   | echo socket: {bare:>9,.0f} B", flush=True)
    total, total_echo = sum(p[0] for p in parts.values()), sum(p[1] for p in parts.values())
    row(f"idle counter session ({label}), traced", total, "B", total_echo, "echo socket")


# -- 5. event -> patch over each transport ------------------------------------------------

LATENCY_ROUNDS = 20
LATENCY_EVENTS = 25  # events per transport per round


def _latency_rows(label: str, samples: dict[str, list[float]]) -> None:
    ws = samples["websocket"]
    for name, title in (("sse", "SSE+POST"), ("poll", "long-poll")):
        for p in (50, 99):
            row(
                f"event->patch p{p} {title} ({label})",
                percentile(samples[name], p) * 1e6,
                "us",
                percentile(ws, p) * 1e6,
                "WebSocket",
            )


async def latency_peers(server: Server) -> None:
    """Round trips of Python peers: the server and the wire protocol alone."""
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(timeout=60.0) as http:
        views: dict[str, WebSocketView | HttpTransportView] = {
            "websocket": await WebSocketView.open(server.base, "counter", http=http),
            "sse": await HttpTransportView.open(server.base, "counter", transport="sse", http=http),
            "poll": await HttpTransportView.open(
                server.base, "counter", transport="poll", http=http
            ),
        }
        samples: dict[str, list[float]] = {name: [] for name in views}
        for view in views.values():  # warm up
            for _ in range(10):
                await view.push("inc", {"by": 1})
        for _ in range(LATENCY_ROUNDS):
            for name, view in views.items():
                for _ in range(LATENCY_EVENTS):
                    start = loop.time()
                    await view.push("inc", {"by": 1})
                    samples[name].append(loop.time() - start)
        for view in views.values():
            await view.close()
    _latency_rows("peers", samples)


_CLICK = """async () => {
    const count = document.querySelector('#count');
    const before = count.textContent;
    const changed = new Promise(resolve => {
        const seen = new MutationObserver(() => {
            if (count.textContent !== before) { seen.disconnect(); resolve(); }
        });
        seen.observe(count, {childList: true, characterData: true, subtree: true});
    });
    const start = performance.now();
    document.querySelector('#inc').click();
    await changed;
    return performance.now() - start;
}"""


async def latency_chromium(server: Server) -> None:
    """Click to painted count in Chromium pages, one forced onto each transport."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        print("event->patch in Chromium: playwright is not installed; skipped", flush=True)
        return
    if not HAVE_CHROMIUM:
        print(f"event->patch in Chromium: {CHROMIUM} is not installed; skipped", flush=True)
        return
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = {}
        for name, option in (("websocket", "websocket"), ("sse", "sse"), ("poll", "longpoll")):
            context = await browser.new_context()
            await context.add_init_script(
                f"window.lightflowLiveOptions = {{transport: '{option}', upgradeMs: 0}};"
            )
            page = await context.new_page()
            await page.goto(f"{server.base}/counter?count=0")
            await page.wait_for_selector(f"[data-lf-status=connected][data-lf-transport={option}]")
            pages[name] = page
        samples: dict[str, list[float]] = {name: [] for name in pages}
        for page in pages.values():  # warm up
            for _ in range(10):
                await page.evaluate(_CLICK)
        for _ in range(LATENCY_ROUNDS):
            for name, page in pages.items():
                for _ in range(LATENCY_EVENTS):
                    samples[name].append(await page.evaluate(_CLICK) / 1000)
        await browser.close()
    _latency_rows("Chromium", samples)


async def latency() -> None:
    async with Server() as server:
        await latency_peers(server)
        await latency_chromium(server)


def main() -> None:
    async def run() -> None:
        global SESSIONS
        if "--sessions" in sys.argv:  # --sessions N: the memory part's session count
            SESSIONS = int(sys.argv[sys.argv.index("--sessions") + 1])
        if "--latency" in sys.argv:
            await latency()
            return
        if "--memory" in sys.argv:  # the memory part alone (and --breakdown's)
            await memory(False)
            await memory(True)
            if "--breakdown" in sys.argv:
                await breakdown(False)
            return
        async with Server() as server:
            await first_load(server)
            await counter_click(server)
        await latency()
        await memory(False)
        await memory(True)
        if "--breakdown" in sys.argv:
            await breakdown(False)
            await breakdown(True)

    asyncio.run(run())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--serve", "--serve-traced"):
        serve(int(sys.argv[2]), traced=sys.argv[1] == "--serve-traced")
    else:
        main()
