"""The handshake the WebSocket tests make by hand: the page's session id and join token
(from its first GET), then hello and join over a raw `WebSocketClient`, and a join the
server must refuse."""

from __future__ import annotations

from lightflow_actors.isa import ErrorFrame
from lightflow_actors.live import LiveClient, WebSocketClient
from lightflow_actors.live._peer import page_attr


def page_ids(html: str) -> tuple[str, str]:
    """The live page's session id and join token (``data-lf-session``, ``data-lf-token``)."""
    return page_attr(html, "session"), page_attr(html, "token")


async def join(
    ws: WebSocketClient, client: LiveClient, view: str, session_id: str, token: str
) -> None:
    """Say hello (and read the welcome), then send the join of `view`."""
    await ws.send_text(client.hello().decode())
    welcome = await ws.receive_text()
    assert welcome is not None, "the socket closed before its welcome"
    client.feed(welcome.encode())
    for frame in client.join(view, session_id, token, {}):
        await ws.send_text(frame.decode())


async def join_refused(
    port: int,
    view: str,
    session_id: str,
    token: str,
    *,
    host: str = "127.0.0.1",
    cookie: str | None = None,
) -> ErrorFrame:
    """Join `view` over a fresh socket (with `cookie` as its Cookie header): the server
    answers an error frame and renders nothing. Returns the first error frame."""
    ws = await WebSocketClient.connect(host, port, "/live/socket", cookie=cookie)
    try:
        client = LiveClient()
        await join(ws, client, view, session_id, token)
        while not client.errors:
            client.feed(((await ws.receive_text()) or "").encode())
        [refusal, *_] = client.errors
        assert isinstance(refusal, ErrorFrame), refusal
        assert client.renders == 0
        return refusal
    finally:
        await ws.close()
