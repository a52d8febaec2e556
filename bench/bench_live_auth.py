"""What the cookie session costs a page (ADR 0081): the first GET's static render of the
counter without a request (no cookie layer: the baseline) beside the same render reading
and signing again a session cookie, and the protected ``account`` view whose ``on_mount``
hook reads the user; then reading one session cookie beside a bare HMAC-SHA256 of the
same bytes. In-process (no HTTP): the figures are the hub's own work, in one run.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac

from lightflow_actors import ActorSystem
from lightflow_actors.live import CookieSession, LiveHub, RequestInfo
from lightflow_actors.live_examples.auth import auth_views
from lightflow_actors.live_examples.counter import counter

from ._report import async_rate, best_of, row, sync_rate

SECONDS = 0.5


async def _run() -> None:
    async with ActorSystem("bench-auth", seed=1) as system:
        hub = LiveHub(system, {"counter": counter, **auth_views()}, secret=b"b" * 32)
        await hub.start()
        seal = hub.seal
        cookie = seal.cookie.sign(
            CookieSession(sid="0" * 32, at=seal.now(), data={"user": "ada", "theme": "dark"})
        )
        name = hub.session_cookie.name
        request = RequestInfo.from_request(
            {name: cookie, "other": "x"}, [("user-agent", "bench"), ("accept", "text/html")]
        )

        async def bare() -> object:
            return await hub.static_render("counter", {})

        async def with_cookie() -> object:
            return await hub.static_render("counter", {}, request)

        async def protected() -> object:
            return await hub.static_render("account", {}, request)

        rates = [0.0, 0.0, 0.0]
        for _ in range(5):  # interleaved rounds: noise on a shared machine hits all three
            for i, fn in enumerate((bare, with_cookie, protected)):
                rates[i] = max(rates[i], await async_rate(fn, SECONDS, batch=50))
        base = rates[0]
        row("counter GET, no cookie layer (baseline)", base, "renders/s")
        row("counter GET, session cookie read + signed", rates[1], "renders/s", base, "baseline")
        row("account GET, cookie + on_mount hook", rates[2], "renders/s", base, "baseline")
        key = b"k" * 32
        payload = cookie.split(".")[0].encode()
        raw = best_of(3, lambda: sync_rate(lambda: hmac.new(key, payload, hashlib.sha256), SECONDS))
        read = best_of(3, lambda: sync_rate(lambda: seal.read_session(cookie), SECONDS))
        row("HMAC-SHA256 of the cookie payload (baseline)", raw, "ops/s")
        row("read_session (mac, base64, msgspec, expiry)", read, "ops/s", raw, "baseline")
        await hub.stop()


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
