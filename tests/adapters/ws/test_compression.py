"""First load over gzip: the page and the client script are compressed for a browser that
accepts gzip, sent as they are otherwise, with `Vary` and one ETag per representation;
`Accept-Encoding` values of any shape are read without error."""

from __future__ import annotations

import gzip

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import client_script
from lightflow_actors.adapters.ws._routes import accepts_gzip
from lightflow_actors.live_examples import start_examples

from ...live.live_server import serving

pytestmark = pytest.mark.anyio


async def test_page_and_script_are_gzipped_when_accepted() -> None:
    async with ActorSystem("gzip", seed=2) as system:
        routes = await start_examples(system, tick_interval=3600.0)
        async with serving(routes.routes) as base, httpx.AsyncClient() as http:
            plain = await http.get(f"{base}/table", headers={"Accept-Encoding": "identity"})
            packed = await http.get(f"{base}/table", headers={"Accept-Encoding": "gzip, br"})
            assert "content-encoding" not in plain.headers
            assert packed.headers["content-encoding"] == "gzip"
            assert "accept-encoding" in packed.headers["vary"].lower()
            assert packed.text.count("<tr id=") == 1000  # httpx decoded it
            assert packed.num_bytes_downloaded * 5 < plain.num_bytes_downloaded

            url = f"{base}/static/lightflow-live.js"
            js = await http.get(url, headers={"Accept-Encoding": "gzip"})
            assert js.headers["content-encoding"] == "gzip"
            assert js.content == client_script()
            assert js.num_bytes_downloaded == len(gzip.compress(client_script(), 9, mtime=0))
            raw = await http.get(url, headers={"Accept-Encoding": "gzip;q=0, identity"})
            assert "content-encoding" not in raw.headers and raw.content == client_script()
            assert js.headers["etag"] != raw.headers["etag"]
            same = await http.get(
                url, headers={"Accept-Encoding": "gzip", "If-None-Match": js.headers["etag"]}
            )
            assert same.status_code == 304
            other = await http.get(
                url, headers={"Accept-Encoding": "identity", "If-None-Match": js.headers["etag"]}
            )
            assert other.status_code == 200 and other.content == client_script()
            odd = await http.get(url, headers={"Accept-Encoding": b"\xff\xfe;q=\xe9,,;;"})
            assert odd.status_code == 200 and odd.content == client_script()
        await routes.hub.stop()


async def test_the_socket_deflates_with_small_windows() -> None:
    from wsproto.extensions import PerMessageDeflate

    from lightflow_actors.adapters.ws._deflate import WINDOW_BITS
    from lightflow_actors.live import WebSocketView

    async with ActorSystem("deflate", seed=3) as system:
        routes = await start_examples(system, tick_interval=3600.0)
        async with serving(routes.routes) as base:
            view = await WebSocketView.open(base, "table", deflate=True)
            [deflate] = view.ws.extensions
            assert isinstance(deflate, PerMessageDeflate)
            # the client was told to compress with a small window; a full render (60 KB
            # of JSON) came through the server's small-window compressor intact
            assert deflate.client_max_window_bits == WINDOW_BITS
            assert view.html().count("<tr id=") == 1000
            await view.push("sort", {"column": "price"})
            assert view.html().count("<tr id=") == 1000
            await view.close()
        await routes.hub.stop()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate, br, zstd", True),
        ("GZIP;Q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("*;q=0", False),
        ("br;q=1, *;q=0.1", True),
        ("gzip;q=nan", False),
        ("gzip;q=oops", False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_says(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


@given(st.text(max_size=4096))
def test_any_accept_encoding_value_is_read_without_error(header: str) -> None:
    assert accepts_gzip(header) in (True, False)
