"""The browser's side of the wire in Python: a live-view peer without a DOM.

`LiveClient` is the protocol alone: it builds frames (hello, mount, render, submit),
takes the server's frames and answers acks and pings through the ISA `Connection`,
and merges every Render and Patch with the reference merge (`apply_patch`). It works
over any byte pipe; the test DSL feeds it an in-memory socket. `WebSocketView` puts
it on a real WebSocket (wsproto): what tests, the benchmark and tools use to talk to
a running server as a browser would.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from ..isa import (
    Connection,
    ErrorFrame,
    JsonCodec,
    JSONValue,
    Mount,
    Patch,
    Render,
    Shutdown,
    Submit,
)
from ._envelope import LiveEnvelope, Nav, decode_envelope, live_patch_of
from ._errors import PeerError
from ._merge import ClientState, apply_patch, client_html
from ._patch import Patch as LivePatch
from ._wsclient import WebSocketClient

if TYPE_CHECKING:
    import httpx


class LiveClient:
    """A browser's side of the wire, in Python: frames to send, frames received, the view.

    ``feed(data)`` takes one server frame and returns the frames to send back (acks,
    pongs); the merged HTML is ``html()``. Every Render and Patch is recorded.
    """

    def __init__(self, *, auto_ack: bool = True) -> None:
        # auto_ack=False: `feed` returns no acks; the caller sends `ack()` when it
        # chooses (as the browser does, lazily: specs/live-wire.md §8).
        self.connection = Connection(
            "client",
            JsonCodec(max_frame_bytes=1 << 30),
            now=0.0,
            heartbeat_interval=1e9,
            heartbeat_timeout=2e9,
            auto_ack=auto_ack,
        )
        self.state = ClientState()
        self.envelopes: list[LiveEnvelope] = []
        self.patches: list[LivePatch] = []
        self.errors: list[ErrorFrame | str] = []
        self.shutdowns: list[Shutdown] = []
        self.answered: set[str] = set()
        self._outstanding: list[int] = []  # refs of events sent and not yet answered
        self.closed: str | None = None
        self.session_id: str | None = None
        self.title: str | None = None
        self.navigations: list[Nav] = []
        self.renders = 0
        # Live children (`live_render`), by path ("clock", "clock/hand"): what each
        # shows, its patches, and how many full renders it got.
        self.children: dict[str, ClientState] = {}
        self.child_patches: dict[str, list[LivePatch]] = {}
        self.child_renders: dict[str, int] = {}

    def ack(self) -> bytes | None:
        """One cumulative ack for the frames received and not yet acknowledged, or None."""
        return self.connection.ack(now=0.0)

    def hello(self) -> bytes:
        return self.connection.hello(now=0.0)

    def send(self, instruction: Mount | Render | Patch | Submit | Shutdown) -> bytes:
        return self.connection.send(instruction, now=0.0)

    @staticmethod
    def mount_instruction(
        view: str, session_id: str, token: str, params: Mapping[str, str]
    ) -> Mount:
        """The Mount a page sends to join `view`: its params are `MountParams`."""
        return Mount(id=session_id, target=view, params={"token": token, "params": dict(params)})

    def join(
        self, view: str, session_id: str, token: str, params: Mapping[str, str]
    ) -> list[bytes]:
        mount = self.mount_instruction(view, session_id, token, params)
        return [self.send(mount), self.send(Render())]

    def submit(
        self, event: str, payload: JSONValue, target: str | None = None
    ) -> tuple[bytes, str]:
        """A Submit frame and its ref (the frame's seq, as the client script does);
        `target`: the live component it is for (its cid), None: the view."""
        ref = str(self.connection.last_seq_out + 1)
        data = self.send(Submit(event=event, payload=payload, ref=ref, target=target))
        self._outstanding.append(int(ref))
        return data, ref

    def feed(self, data: bytes) -> list[bytes]:
        outcome = self.connection.receive(data, now=0.0)
        for instruction in outcome.instructions:
            if isinstance(instruction, Render):
                self._render(decode_envelope(instruction.view))
            elif isinstance(instruction, Patch):
                self._patch(decode_envelope(instruction.diff))
            elif isinstance(instruction, Shutdown):
                self.shutdowns.append(instruction)
        for error in outcome.peer_errors:
            self.errors.append(error)
            if error.ref is not None:
                self._answer(str(error.ref))
        if outcome.close is not None:
            self.closed = f"{outcome.close.code}: {outcome.close.message}"
            self.errors.append(self.closed)
        return list(outcome.outgoing)

    def html(self) -> str:
        """The page as a browser shows it: the view's HTML with each live child's
        container holding the child's HTML (its own children's too)."""
        return self.child_html("")

    def own_html(self, path: str = "") -> str:
        """The HTML of the view (or of the child at `path`) alone: its children's
        containers empty."""
        if not path:
            return client_html(self.state)
        state = self.children.get(path)
        return "" if state is None else client_html(state)

    def child_html(self, path: str) -> str:
        """The HTML of the child at `path` ("" for the view) with its children in it."""
        html = self.own_html(path)
        prefix = f"{path}/" if path else ""
        for found in reversed(list(_containers(html))):
            inner = f"{prefix}{found.group(2)}"
            if inner in self.children:
                at = found.end(3)
                html = html[:at] + self.child_html(inner) + html[at:]
        return html

    def child_paths(self, path: str = "") -> list[str]:
        """The paths of the live children the view (or child `path`) shows now, in
        page order, whose first render arrived."""
        prefix = f"{path}/" if path else ""
        return [
            f"{prefix}{found.group(2)}"
            for found in _containers(self.own_html(path))
            if f"{prefix}{found.group(2)}" in self.children
        ]

    def _prune(self, path: str) -> None:
        """Forget the children (and their own) whose container the view or child at
        `path` no longer shows, as the browser does: the server stopped them."""
        if not self.children:
            return
        prefix = f"{path}/" if path else ""
        shown = {f"{prefix}{found.group(2)}" for found in _containers(self.own_html(path))}
        for known in list(self.children):
            mine = known.startswith(prefix) and "/" not in known[len(prefix) :]
            if mine and known not in shown:
                for gone in [k for k in self.children if k == known or k.startswith(known + "/")]:
                    del self.children[gone]
                    self.child_patches.pop(gone, None)
                    self.child_renders.pop(gone, None)

    def children_waiting(self, path: str = "") -> list[str]:
        """The paths of the live children the page shows a container for whose first
        render has not arrived (their children's too, once they have)."""
        prefix = f"{path}/" if path else ""
        waiting: list[str] = []
        for found in _containers(self.own_html(path)):
            inner = f"{prefix}{found.group(2)}"
            if inner in self.children:
                waiting += self.children_waiting(inner)
            else:
                waiting.append(inner)
        return waiting

    def _render(self, envelope: LiveEnvelope) -> None:
        patch = live_patch_of(envelope)
        if patch is None:
            raise PeerError("a Render without a patch: the server broke specs/live-wire.md §4")
        if envelope.child is not None:
            path = envelope.child
            self.children[path] = apply_patch(ClientState(), patch)
            self.child_renders[path] = self.child_renders.get(path, 0) + 1
            self.child_patches.pop(path, None)
            self._prune(path)
            if envelope.ref is not None:
                self._answer(envelope.ref)
            self._side_effects(envelope)
            return
        self.state = apply_patch(ClientState(), patch)
        self.session_id = envelope.session or self.session_id
        self.renders += 1
        self._prune("")  # children the new render shows no container for are gone
        if envelope.ref is not None:
            self._answer(envelope.ref)
        self._side_effects(envelope)

    def _patch(self, envelope: LiveEnvelope) -> None:
        patch = live_patch_of(envelope)
        if patch is not None and envelope.child is not None:
            state = self.children.get(envelope.child)
            if state is None:
                raise PeerError(
                    f"a patch for live child {envelope.child!r} before its render: the "
                    "server broke specs/live-wire.md §18"
                )
            self.children[envelope.child] = apply_patch(state, patch)
            self.child_patches.setdefault(envelope.child, []).append(patch)
            self._prune(envelope.child)
        elif patch is not None:
            self.state = apply_patch(self.state, patch)
            self.patches.append(patch)
            self._prune("")
        if envelope.ref is not None:
            self._answer(envelope.ref)
        self._side_effects(envelope)

    def _answer(self, ref: str) -> None:
        """`ref` is answered, and with it every earlier event (a patch held back under
        backpressure answers all the events it stands for: specs/live-wire.md §8)."""
        self.answered.add(ref)
        if not ref.isdigit():
            return
        upto = int(ref)
        earlier = [r for r in self._outstanding if r <= upto]
        if earlier:
            self.answered.update(str(r) for r in earlier)
            self._outstanding = [r for r in self._outstanding if r > upto]

    @property
    def pushed_events(self) -> list[tuple[str, dict[str, object]]]:
        """Every `PushEvent` received (``(event, payload)``), oldest first."""
        return [tuple(item) for e in self.envelopes for item in e.e or ()]  # type: ignore[misc]

    @property
    def replies(self) -> dict[str, dict[str, object]]:
        """Every `EventReply` received, by the ref of the event it answers."""
        return {ref: reply for e in self.envelopes for ref, reply in (e.rp or {}).items()}

    def _side_effects(self, envelope: LiveEnvelope) -> None:
        self.envelopes.append(envelope)
        if envelope.title is not None:
            self.title = envelope.title
        if envelope.nav is not None:
            self.navigations.append(envelope.nav)


class PeerView:
    """What a live view held by a Python peer does over any transport: join, read frames
    (answering acks and pings) until a condition holds, push an event and wait for its
    answer. Subclasses carry the frames: `send_frame`, `receive_text` (None once the
    server closed) and `_how_closed` (how it closed, for errors)."""

    client: LiveClient

    async def send_frame(self, data: bytes) -> None:
        raise NotImplementedError

    async def receive_text(self) -> str | None:
        raise NotImplementedError

    def _how_closed(self) -> str:
        raise NotImplementedError

    async def _join(
        self, view: str, session_id: str, token: str, params: Mapping[str, str] | None
    ) -> None:
        """Say hello, join `view` and wait for its first render."""
        await self.send_frame(self.client.hello())
        await self.until(lambda: self.client.connection.state == "open", "the welcome")
        for frame in self.client.join(view, session_id, token, params or {}):
            await self.send_frame(frame)
        await self.until(lambda: self.client.renders > 0, "the first render")

    def html(self) -> str:
        return self.client.html()

    async def push(self, event: str, payload: JSONValue) -> None:
        data, ref = self.client.submit(event, payload)
        await self.send_frame(data)
        await self.until(lambda: ref in self.client.answered, f"the answer to {event!r}")

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Read frames (answering acks and pings) until `condition()` holds."""
        while not condition():
            text = await self.receive_text()
            if text is None:
                raise PeerError(
                    f"the {self._how_closed()} while waiting for {what}; "
                    f"errors: {self.client.errors}"
                )
            for reply in self.client.feed(text.encode("utf-8")):
                await self.send_frame(reply)


class WebSocketView(PeerView):
    """A live view over a real WebSocket, as a browser without a DOM would hold it.

    ``open`` GETs the page (the token and session id are in it), connects to the
    socket it names, joins, and waits for the first render; ``push`` sends an event
    and waits for its answer. Acks and pongs go back at once, in order.

        view = await WebSocketView.open("http://127.0.0.1:8000/live", "counter")
        await view.push("inc", {"by": 1})
    """

    def __init__(self, ws: WebSocketClient, client: LiveClient) -> None:
        self.ws = ws
        self.client = client

    @classmethod
    async def open(
        cls,
        base_url: str,
        view: str,
        params: Mapping[str, str] | None = None,
        *,
        http: httpx.AsyncClient | None = None,
        deflate: bool = False,
    ) -> WebSocketView:
        """Join `view`; pass `http` to reuse one HTTP client for many views; `deflate`
        offers permessage-deflate as browsers do."""
        import httpx  # imported here: only network peers need it, not every importer of live

        if http is None:
            async with httpx.AsyncClient() as own:
                page = await own.get(f"{base_url}/{view}", params=dict(params or {}))
                jar = dict(own.cookies.items())
        else:
            page = await http.get(f"{base_url}/{view}", params=dict(params or {}))
            jar = dict(http.cookies.items())
        page.raise_for_status()
        session_id, token = page_attr(page.text, "session"), page_attr(page.text, "token")
        # The token is bound to the session cookie the page set: send it back, as a
        # browser does on the WebSocket handshake.
        jar.update(page.cookies.items())
        cookie = "; ".join(f"{name}={value}" for name, value in jar.items())
        url = httpx.URL(base_url)
        ws = await WebSocketClient.connect(
            url.host, url.port or 80, f"{url.path}/socket", deflate=deflate, cookie=cookie
        )
        self = cls(ws, LiveClient())
        await self._join(view, session_id, token, params)
        return self

    async def send_frame(self, data: bytes) -> None:
        await self.ws.send_text(data.decode("utf-8"))

    async def receive_text(self) -> str | None:
        return await self.ws.receive_text()

    def _how_closed(self) -> str:
        return f"socket closed ({self.ws.close_code} {self.ws.close_reason})"

    async def close(self) -> None:
        await self.ws.close()


_ATTR = re.compile(r'data-lf-(session|token)="([^"]*)"')
# A live child's container as `live_render` writes it: <tag id="x" data-lf-child="x"...></tag>.
_CONTAINER = re.compile(r'<([a-z][a-z0-9-]*) id="([A-Za-z][\w-]*)" data-lf-child="\2"[^>]*(>)</\1>')


def _containers(html: str) -> Iterator[re.Match[str]]:
    return _CONTAINER.finditer(html)


def page_attr(html: str, name: str) -> str:
    """The page's ``data-lf-<name>`` (``session`` or ``token``)."""
    for found in _ATTR.finditer(html):
        if found.group(1) == name:
            return found.group(2)
    raise PeerError(f"the page has no data-lf-{name}: is it a live view page?")
