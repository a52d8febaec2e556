"""Drive live views without a browser: mount, click, submit, change, keydown, assert.

The view runs for real: a `LiveHub` on an `ActorSystem`, a `Transport` actor fed
by an in-memory socket, a `LiveSession` actor, the ISA wire codec in both
directions, and the Python reference client merge (`apply_patch`) on this side.
Only the browser is missing. Events are sent the way the client script sends them:
`click("inc")` finds the element with ``lf-click="inc"`` in the rendered HTML (and
fails if there is none), adds its ``lf-value-*`` attributes, and waits for the answer.

    async with live_test({"counter": Counter()}) as live:
        view = await live.mount("counter", {"count": "3"})
        assert "Count: 3" in view.html()
        await view.click("inc")
        assert view.patches[-1].root == {"0": "4"}

Each `LiveTest` is one browser with a cookie jar: `mount(..., session={...})` logs it in
(Phoenix's ``init_test_session``), a mount an ``on_mount`` hook halts raises
`LiveRedirect`, and `follow_redirect` goes where a redirect, a live navigation or a
`PutSession` sends the browser (through ``{base}/session``, as the browser does):

    with pytest.raises(LiveRedirect) as halted:
        await live.mount("account")
    login = await live.follow_redirect(halted.value)      # the login page, with its flash
    await login.submit("login", {"name": "ada", "password": "..."})
    assert login.assert_redirect() == "account"
    account = await live.follow_redirect(login)           # now signed in

Forms, uploads and async work, as LiveViewTest's ``form``, ``file_input``,
``render_upload`` and ``render_async``: a form's ``render_change`` marks the fields not
typed into as unused (``_unused_<name>``, as the client does), ``render_upload`` sends a
file's chunks as the client does, and ``render_async`` waits until the session runs no
``assign_async`` / ``start_async`` work:

    html = await view.form("#profile", {"name": "A"}).render_change()
    avatar = view.file_input("#profile", "avatar", [UploadFile("me.png", data, "image/png")])
    html = await view.render_upload(avatar, "me.png", percent=50)
    html = await view.render_async()

LiveViewTest's element API (components and streams included): ``view.element(selector,
text)`` finds an element when used, ``has_element(view, "#todo-1", "milk")`` checks,
``await render_click(view.element("#todo-1 button"))`` sends the element's event (to the
live component its ``lf-target`` names) and returns the new HTML; text is matched
unescaped, as a user reads it::

    done = await render_click(view.element("#todo-7 button", "done"))
    assert has_element(view, "#todo-7.done")

Key and focus events (LiveViewTest's ``render_keydown``/``render_keyup``/``render_focus``/
``render_blur``) take an element bound with ``lf-keydown`` (or ``lf-window-keydown``,
and so on) and send what the client sends; an ``lf-key`` the key does not match fails,
as the browser would send nothing::

    html = await view.element("#search").render_keyup("a", {"value": "a"})
    html = await view.element("#modal").render_keyup("Escape")   # lf-window-keyup
    html = await view.element("#page").render_blur()              # lf-window-blur

Infinite scroll: ``await view.element("#items").render_viewport_bottom()`` sends the
container's ``lf-viewport-bottom`` event as the client does when its last child scrolls
into view (``render_viewport_top`` for the first).

``view.page_title()`` is ``document.title`` (the GET's ``<title>``, then each
`PageTitle`); ``view.assert_push_event("highlight", {"id": 3})`` takes the oldest
`PushEvent` of that name not asserted yet (``refute_push_event`` checks none came)::

    await view.click("receive")
    assert view.page_title() == "Inbox (1)"
    assert view.assert_push_event("count") == {"n": 1}

The wire side alone is `lightflow_actors.live.LiveClient` (re-exported here with
`WebSocketView`, the same over a real WebSocket, and `HttpTransportView`, over the
server-sent events or long-polling fallbacks of specs/live-wire.md §17). The DSL itself
has no transport: its socket is in memory, behind the same transport actor as all three.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from html.parser import HTMLParser
from pathlib import Path
from typing import cast
from urllib.parse import parse_qsl

import msgspec

from lightflow_actors.adapters.ws import ReadPausing, Receive, SocketClosed, start_transport
from lightflow_actors.live import (
    JS,
    AnyLiveView,
    AwaitAsync,
    CookieSession,
    GroupedView,
    Halted,
    HttpTransportView,
    LiveClient,
    LiveConfig,
    LiveHub,
    Nav,
    RequestInfo,
    SessionCookieError,
    SessionValue,
    SetCookie,
    StaticRender,
    WebSocketView,
)

from ..isa import ErrorFrame, JSONValue, Mount, Patch, Render, Shutdown, Submit
from ..kernel import ActorExited, ActorNotAlive, ActorRef, ActorSystem, AskTimeout
from ..live import Patch as LivePatch
from ..live._cookie import SessionChange as _Change
from ..supervision import ActorSystem as SupervisedSystem
from ..tenants import TenantLedger, TenantsConfig, report_refusals
from ._live_dom import Node, SelectorError, form_fields, outer_html, parse, select

__all__ = [
    "DEFAULT_WAIT",
    "Element",
    "FileInput",
    "FormHandle",
    "HttpTransportView",
    "LiveChildHandle",
    "LiveClient",
    "LiveRedirect",
    "LiveTest",
    "LiveTestError",
    "LiveViewHandle",
    "MemorySocket",
    "SelectorError",
    "TriggerAction",
    "UploadFile",
    "WebSocketView",
    "element",
    "find_live_child",
    "has_element",
    "live_children",
    "live_test",
    "open_browser",
    "render_change",
    "render_click",
    "render_submit",
]

DEFAULT_WAIT = 30.0
"""Seconds a DSL call waits for the session's answer before failing (a deadlock guard)."""


class LiveTestError(AssertionError):
    """A DSL call could not do what it was asked (no such element, no answer, closed)."""


class LiveRedirect(LiveTestError):
    """The browser was sent elsewhere: an ``on_mount`` hook halted a mount (`to` and the
    `flash` it carries), or a view redirected. Hand it to `LiveTest.follow_redirect`."""

    def __init__(self, to: str, flash: Mapping[str, str]) -> None:
        super().__init__(f"redirected to {to!r}" + (f" with flash {dict(flash)}" if flash else ""))
        self.to = to
        self.flash = dict(flash)


class MemorySocket(ReadPausing):
    """A `Socket` that keeps what the transport writes, for `LiveViewHandle` to read.

    Like the real sockets it honours `pause_reading` (the same `ReadPausing`): the DSL
    hands the transport no frame while reading is paused (`wait_readable`), as a browser's
    frames would wait in its socket, so a test (or a benchmark's client) sees the
    backpressure a browser would. A closed memory socket does not pause.
    """

    def __init__(self) -> None:
        super().__init__()
        self.frames: deque[bytes] = deque()
        self.bytes_sent = 0
        self.close_code: int | None = None
        self.close_reason = ""
        self.arrived = asyncio.Event()

    def send(self, data: bytes) -> bool:
        if self.close_code is None:
            self.frames.append(data)
            self.bytes_sent += len(data)
            self.arrived.set()
        return True

    def close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self.arrived.set()
            self.resume_reading()

    def abort(self, code: int, reason: str) -> None:
        self.close(code, reason)

    def _may_pause(self) -> bool:
        return self.close_code is None


class LiveViewHandle:
    """One mounted view, as a test sees it."""

    def __init__(
        self, hub: LiveHub, transport: ActorRef[Receive | SocketClosed], socket: MemorySocket
    ) -> None:
        self.hub = hub
        self.transport = transport
        self.socket = socket
        self.client = LiveClient()
        self.view = ""
        self.token = ""  # the page's token (bound to the browser's session cookie)
        self._replies: deque[bytes] = deque()
        self._last_hook_ref: str | None = None
        self._page_title = ""  # the <title> of the page's GET
        self._events_seen = 0  # pushed events consumed by assert_push_event

    # -- assertions -------------------------------------------------------------------

    def html(self) -> str:
        """The HTML the browser would show now."""
        return self.client.html()

    @property
    def patches(self) -> list[LivePatch]:
        """Every live-diff patch received after the first render, oldest first."""
        return self.client.patches

    @property
    def errors(self) -> list[ErrorFrame | str]:
        """Error frames received (a fatal one as its close text)."""
        return self.client.errors

    @property
    def over_budget(self) -> list[ErrorFrame]:
        """The ``over_budget`` error frames received: events (or the join) refused for a
        tenant budget, each with its ``retry_after`` (specs/live-wire.md §16)."""
        return [
            e for e in self.client.errors if isinstance(e, ErrorFrame) and e.code == "over_budget"
        ]

    @property
    def closed(self) -> bool:
        return self.socket.close_code is not None

    def page_title(self) -> str:
        """``document.title`` as the browser shows it now (LiveViewTest's ``page_title``):
        the last `PageTitle` received, else the ``<title>`` of the page's GET."""
        return self.client.title if self.client.title is not None else self._page_title

    def assert_push_event(
        self, event: str, payload: Mapping[str, object] | None = None
    ) -> dict[str, object]:
        """LiveViewTest's ``assert_push_event``: the oldest `PushEvent` named `event` (and
        equal to `payload`, if given) not consumed by an earlier call; consumes it and
        every pushed event before it, and returns its payload. `LiveTestError` naming
        what was pushed otherwise."""
        pushed = self.client.pushed_events
        for index in range(self._events_seen, len(pushed)):
            name, got = pushed[index]
            if name == event and (payload is None or got == dict(payload)):
                self._events_seen = index + 1
                return got
        want = f"{event!r}" + (f" with {dict(payload)!r}" if payload is not None else "")
        raise LiveTestError(
            f"no push event {want} (pushed and not yet asserted: "
            f"{pushed[self._events_seen :] or 'none'})"
        )

    def refute_push_event(self, event: str, payload: Mapping[str, object] | None = None) -> None:
        """LiveViewTest's ``refute_push_event``: no pushed event named `event` (equal to
        `payload`, if given) arrived that `assert_push_event` has not consumed."""
        for name, got in self.client.pushed_events[self._events_seen :]:
            if name == event and (payload is None or got == dict(payload)):
                raise LiveTestError(f"push event {event!r} arrived with {got!r}")

    # -- actions ----------------------------------------------------------------------

    async def join(
        self, view: str, params: Mapping[str, str], page: StaticRender | None = None
    ) -> None:
        """Say hello and join `view` with the token of `page` (a static render without
        cookies when None)."""
        if page is None:
            rendered = await self.hub.static_render(view, params)
            if isinstance(rendered, Halted):
                raise LiveRedirect(rendered.location, rendered.flash)
            page = rendered
        self.view = view
        self.token = page.token
        self._page_title = page.title
        await self.send_raw(self.client.hello())
        renders, errors = self.client.renders, len(self.client.errors)
        await self._join(view, page.session_id, page.token, params, page.flash)
        await self.wait_for(
            lambda: self.client.renders > renders or self._refused(errors) is not None,
            f"the first render of {view}",
        )
        refused = self._refused(errors)
        if refused is not None and self.client.renders == renders:
            raise LiveTestError(f"the server refused to mount {view}: {refused}")
        self._raise_if_halted()
        await self.wait_children()

    async def wait_children(self) -> None:
        """Wait until every live child the page shows has sent its first render (as
        LiveViewTest's ``live/2`` returns once the nested views joined)."""
        if self.client.children_waiting():
            await self.wait_for(
                lambda: not self.client.children_waiting(), "the live children's first renders"
            )

    def _refused(self, since: int) -> str | None:
        """``code: message`` of an error frame received after the first `since` errors that
        refuses a join for good (``unauthorized``, ``over_budget``), else None."""
        for error in self.client.errors[since:]:
            if isinstance(error, ErrorFrame) and error.code in ("over_budget", "unauthorized"):
                return f"{error.code}: {error.message}"
        return None

    # -- where the browser was sent -----------------------------------------------------

    @property
    def last_nav(self) -> Nav | None:
        """The last navigation the server asked for (None if none)."""
        return self.client.navigations[-1] if self.client.navigations else None

    def assert_redirect(self, to: str | None = None) -> str:
        """Assert the view's last navigation left it (`Redirect`, `PushNavigate` or
        `PutSession`; Phoenix's ``assert_redirect``) and return where to: a view with its
        query (``"account"``, ``"login?next=account"``), or the URL of a redirect out of
        the hub. For a `PutSession` it is where the browser lands after the cookie is
        written. With `to`, assert it is that."""
        nav = self.last_nav
        if nav is None or nav.kind == "patch":
            raise LiveTestError(f"{self.view} did not redirect (its last navigation: {nav})")
        where = self._destination(nav)
        if to is not None and where != to:
            raise LiveTestError(f"{self.view} redirected to {where!r}, not {to!r}")
        return where

    def assert_patch(self, to: Mapping[str, str] | str | None = None) -> dict[str, str]:
        """Assert the view's last navigation was a live patch (`PushPatch`) and return its
        params; with `to` (a dict, or a query string ``"count=3"``) assert they are that."""
        nav = self.last_nav
        if nav is None or nav.kind != "patch":
            raise LiveTestError(f"{self.view} did not patch (its last navigation: {nav})")
        expected = dict(parse_qsl(to, keep_blank_values=True)) if isinstance(to, str) else to
        if expected is not None and dict(expected) != nav.params:
            raise LiveTestError(f"{self.view} patched to {nav.params}, not {dict(expected)}")
        return dict(nav.params)

    def _destination(self, nav: Nav) -> str:
        if nav.kind == "navigate":
            query = "&".join(f"{k}={v}" for k, v in nav.params.items())
            return nav.to + (f"?{query}" if query else "")
        change = _change_token(nav.to)
        if change is None:
            return nav.to
        try:
            return self.hub.seal.change.unsign(change, _Change).to
        except SessionCookieError as error:
            raise LiveTestError(f"the session change token does not read: {error}") from None

    def _raise_if_halted(self) -> None:
        """A join an ``on_mount`` hook halted renders nothing but a redirect."""
        envelope = self.client.envelopes[-1] if self.client.envelopes else None
        nav = envelope.nav if envelope is not None else None
        if envelope is not None and envelope.d == {} and nav is not None and nav.kind == "redirect":
            raise LiveRedirect(self._destination(nav), {})

    async def click(
        self, event: str, values: Mapping[str, JSONValue] | None = None, *, id: str | None = None
    ) -> None:
        """Click the element with ``lf-click=event`` (and ``id``, if given); its
        ``lf-value-*`` attributes, then `values`, are the payload."""
        element = self._element("lf-click", event, id)
        payload: dict[str, JSONValue] = dict(_values(element))
        spec = element.attrs.get("lf-click")
        payload.update(_pushed_value(spec, event))
        payload.update(values or {})
        target = _pushed_target(spec, event) or element.attrs.get("lf-target") or None
        await self.push(event, payload, target=target)

    async def submit(self, event: str, form: Mapping[str, JSONValue] | None = None) -> None:
        """Submit the form with ``lf-submit=event``; `form` overrides its fields."""
        element = self._element("lf-submit", event)
        payload: dict[str, JSONValue] = dict(element.fields)
        payload.update(form or {})
        await self.push(event, payload)

    async def change(
        self, event: str, form: Mapping[str, JSONValue] | None = None, target: str = ""
    ) -> None:
        """An input changed inside the element with ``lf-change=event``."""
        element = self._element("lf-change", event)
        payload: dict[str, JSONValue] = dict(element.fields)
        payload.update(form or {})
        payload["_target"] = target
        await self.push(event, payload)

    async def keydown(self, event: str, key: str, value: str | None = None) -> None:
        """A key pressed on the element with ``lf-keydown=event`` (``lf-key`` filters);
        `value` is what the field holds, as the client sends it for inputs."""
        element = self._element("lf-keydown", event)
        only = element.attrs.get("lf-key")
        if only and only != key:
            raise LiveTestError(f"the element with lf-keydown={event!r} only reacts to {only!r}")
        payload: dict[str, JSONValue] = dict(_values(element))
        payload["key"] = key
        if value is not None:
            payload["value"] = value
        await self.push(event, payload)

    async def push(self, event: str, payload: JSONValue, *, target: str | None = None) -> str:
        """Send an event as-is (no element lookup) and wait for its answer; `target`: a
        live component's cid (what ``lf-target`` holds). Returns the event's ref."""
        ref = await self.send_event(event, payload, target=target)
        await self.wait_for(lambda: ref in self.client.answered, f"the answer to event {event!r}")
        return ref

    async def render_hook(
        self,
        event: str,
        payload: JSONValue | None = None,
        *,
        target: str | Element | None = None,
    ) -> str:
        """LiveViewTest's ``render_hook``: push `event` as a client hook's ``pushEvent``
        does (no element) and return the HTML after the answer; its `EventReply`, if
        the handler returned one, is then ``reply(ref)`` / ``last_reply``. `target`, as
        a hook's ``pushEventTo``: a component's cid, or an `Element` whose closest
        ``lf-target`` is the component (none: the view)."""
        payload = {} if payload is None else payload
        cid = _closest_target(target.event_node()) if isinstance(target, Element) else target
        self._last_hook_ref = await self.push(event, payload, target=cid)
        return self.html()

    def reply(self, ref: str) -> dict[str, object] | None:
        """The `EventReply` payload that answered the event `ref`, or None (no reply)."""
        return self.client.replies.get(ref)

    @property
    def last_reply(self) -> dict[str, object] | None:
        """The reply to the last `render_hook` (LiveViewTest's ``assert_reply``)."""
        ref = self._last_hook_ref
        return None if ref is None else self.reply(ref)

    async def send_event(self, event: str, payload: JSONValue, *, target: str | None = None) -> str:
        """Send an event without waiting for its answer; returns its ref."""
        await self._flush()
        data, ref = self.client.submit(event, payload, target)
        await self._deliver(data)
        return ref

    # -- LiveViewTest's element API -----------------------------------------------------

    def element(self, selector: str, text: str | None = None) -> Element:
        """The element matching `selector` (and containing `text`, unescaped), looked up
        when used: it must then match exactly one element."""
        return Element(self, selector, text)

    def has_element(self, selector: str, text: str | None = None) -> bool:
        """Whether some element matches `selector` (and contains `text`, unescaped)."""
        return bool(select(parse(self.html()), selector, text))

    def text(self) -> str:
        """The page's text as a user reads it: unescaped, whitespace collapsed."""
        return parse(self.html()).text()

    async def render_click(
        self, target: Element | str, values: Mapping[str, JSONValue] | None = None
    ) -> str:
        """Click `target` (an `Element` with ``lf-click``, or an event name pushed to the
        view as-is) and return the HTML after the answer."""
        if isinstance(target, str):
            return await self._render_event(target, dict(values or {}), None)
        node = target.event_node()
        # A capture click (lf-capture-click) is a click too, when there is no lf-click.
        binding = (
            "lf-capture-click"
            if node.attrs.get("lf-capture-click") and not node.attrs.get("lf-click")
            else "lf-click"
        )
        event = _binding(node, binding, target)
        payload: dict[str, JSONValue] = dict(_values_of(node.attrs))
        payload.update(_pushed_value(node.attrs.get(binding), event))
        payload.update(values or {})
        return await self._render_event(event, payload, _target_of(node, binding, event))

    async def render_submit(
        self, target: Element | str, values: Mapping[str, JSONValue] | None = None
    ) -> str:
        """Submit the form `target` (with ``lf-submit``; `values` override its fields), or
        push the event named `target`; return the HTML after the answer."""
        if isinstance(target, str):
            return await self._render_event(target, dict(values or {}), None)
        node = target.event_node()
        event = _binding(node, "lf-submit", target)
        payload: dict[str, JSONValue] = dict(form_fields(node))
        payload.update(_pushed_value(node.attrs.get("lf-submit"), event))
        payload.update(values or {})
        return await self._render_event(event, payload, _target_of(node, "lf-submit", event))

    async def render_change(
        self,
        target: Element | str,
        values: Mapping[str, JSONValue] | None = None,
        *,
        field: str = "",
    ) -> str:
        """Change a field of `target` (a form or field with ``lf-change``; `values`
        override its fields, `field` is the ``_target`` the client sends), or push the
        event named `target`; return the HTML after the answer."""
        if isinstance(target, str):
            return await self._render_event(target, dict(values or {}), None)
        node = target.event_node()
        event = _binding(node, "lf-change", target)
        payload: dict[str, JSONValue] = dict(form_fields(node)) if node.tag == "form" else {}
        payload.update(_pushed_value(node.attrs.get("lf-change"), event))
        payload.update(values or {})
        payload["_target"] = field
        return await self._render_event(event, payload, _target_of(node, "lf-change", event))

    # -- key and focus events (LiveViewTest's render_keydown/keyup/focus/blur) ------------

    async def render_keydown(
        self, target: Element | str, key: str, values: Mapping[str, JSONValue] | None = None
    ) -> str:
        """Press `key` on `target` (an `Element` with ``lf-keydown``, else
        ``lf-window-keydown``), or push the event named `target` with the key; return
        the HTML after the answer. The payload is what the client sends: the element's
        ``lf-value-*``, ``key``, and ``value`` for a field; `values` over it."""
        return await self._render_key(target, "keydown", key, values)

    async def render_keyup(
        self, target: Element | str, key: str, values: Mapping[str, JSONValue] | None = None
    ) -> str:
        """Release `key` on `target` (``lf-keyup``, else ``lf-window-keyup``); as
        `render_keydown`."""
        return await self._render_key(target, "keyup", key, values)

    async def render_focus(
        self, target: Element | str, values: Mapping[str, JSONValue] | None = None
    ) -> str:
        """Focus `target` (``lf-focus``, else ``lf-window-focus``: the window gained
        focus), or push the event named `target`; return the HTML after the answer."""
        return await self._render_focus(target, "focus", values)

    async def render_blur(
        self, target: Element | str, values: Mapping[str, JSONValue] | None = None
    ) -> str:
        """Blur `target` (``lf-blur``, else ``lf-window-blur``); as `render_focus`."""
        return await self._render_focus(target, "blur", values)

    async def render_viewport_top(self, target: Element) -> str:
        """The first child of `target` (a container with ``lf-viewport-top``, e.g. a
        stream's) scrolled into view: send its event as the client does (the
        container's ``lf-value-*`` and the child's ``id``); return the HTML after."""
        return await self._render_viewport(target, "top")

    async def render_viewport_bottom(self, target: Element) -> str:
        """The last child of `target` (``lf-viewport-bottom``) scrolled into view; as
        `render_viewport_top` (infinite scroll: the view loads the next page)."""
        return await self._render_viewport(target, "bottom")

    async def _render_viewport(self, target: Element, edge: str) -> str:
        node = target.event_node()
        attribute = f"lf-viewport-{edge}"
        if not node.attrs.get(attribute):
            raise LiveTestError(f"{target!r} has no {attribute}: it sends no such event")
        if not node.children:
            raise LiveTestError(
                f"{target!r} has no child element: nothing can scroll into view (the client "
                "sends nothing)"
            )
        child = node.children[0] if edge == "top" else node.children[-1]
        event = _binding(node, attribute, target)
        payload: dict[str, JSONValue] = dict(_values_of(node.attrs))
        payload.update(_pushed_value(node.attrs.get(attribute), event))
        if child.attrs.get("id"):
            payload["id"] = child.attrs["id"] or ""
        return await self._render_event(event, payload, _target_of(node, attribute, event))

    async def _render_key(
        self,
        target: Element | str,
        kind: str,
        key: str,
        values: Mapping[str, JSONValue] | None,
    ) -> str:
        if not isinstance(key, str) or not key:
            raise LiveTestError(f"render_{kind}: give the key (as KeyboardEvent.key names it)")
        if isinstance(target, str):
            return await self._render_event(target, {"key": key, **(values or {})}, None)
        node = target.event_node()
        attribute = _bound_attribute(node, kind, target)
        only = node.attrs.get("lf-key")
        if only and only != key:
            raise LiveTestError(
                f"{target!r} only reacts to the key {only!r} (lf-key): the browser would send "
                f"nothing for {key!r}"
            )
        event = _binding(node, attribute, target)
        payload: dict[str, JSONValue] = dict(_values_of(node.attrs))
        payload.update(_pushed_value(node.attrs.get(attribute), event))
        payload["key"] = key
        value = _field_value(node)
        if value is not None and attribute == f"lf-{kind}":
            payload["value"] = value
        payload.update(values or {})
        return await self._render_event(event, payload, _target_of(node, attribute, event))

    async def _render_focus(
        self, target: Element | str, kind: str, values: Mapping[str, JSONValue] | None
    ) -> str:
        if isinstance(target, str):
            return await self._render_event(target, dict(values or {}), None)
        node = target.event_node()
        attribute = _bound_attribute(node, kind, target)
        event = _binding(node, attribute, target)
        payload: dict[str, JSONValue] = dict(_values_of(node.attrs))
        payload.update(_pushed_value(node.attrs.get(attribute), event))
        value = _field_value(node)
        if value is not None and attribute == f"lf-{kind}":
            payload["value"] = value
        payload.update(values or {})
        return await self._render_event(event, payload, _target_of(node, attribute, event))

    async def _render_event(
        self, event: str, payload: dict[str, JSONValue], target: str | None
    ) -> str:
        ref = await self.push(event, payload, target=target)
        for error in self.client.errors:
            if isinstance(error, ErrorFrame) and error.ref is not None and str(error.ref) == ref:
                raise LiveTestError(
                    f"the server refused event {event!r}"
                    + (f" for component {target}" if target else "")
                    + f": {error.code}: {error.message}"
                )
        return self.html()

    async def send(self, instruction: Mount | Render | Patch | Submit | Shutdown) -> None:
        """Send one instruction frame (numbered after any pending acks)."""
        await self._flush()
        await self._deliver(self.client.send(instruction))

    async def resync(self) -> str:
        """Ask for a full render of this session, as a browser does after a patch it
        could not merge (specs/live-wire.md §4): the client drops what it holds, streams
        included, and the view's ``handle_resync`` may stream it again. Returns the HTML."""
        renders = self.client.renders
        await self.send(Render())
        await self.wait_for(lambda: self.client.renders > renders, "the full render")
        return self.html()

    async def live_patch(self, params: Mapping[str, str]) -> None:
        """The URL's query changed (an lf-patch link, back/forward)."""
        count = len(self.client.envelopes)
        await self.send(Patch(diff={"params": dict(params)}))
        await self.settle(lambda: len(self.client.envelopes) > count)

    async def navigate(
        self, view: str, params: Mapping[str, str] | None = None, *, flash: str = ""
    ) -> None:
        """Live navigation to another view on the same connection (Shutdown, Mount, Render);
        `flash` is the signed flash token a `PushNavigate` handed the browser."""
        session_id = self.client.session_id or ""
        await self.send(Shutdown(reason="normal", detail="navigate"))
        renders, errors = self.client.renders, len(self.errors)
        await self._join(view, session_id, self.token, params or {}, flash)
        self.view = view
        await self.wait_for(
            lambda: self.client.renders > renders or len(self.errors) > errors,
            f"the render of {view}",
        )
        if self.client.renders == renders:
            raise LiveTestError(f"the server refused to mount {view}: {self.errors[errors]}")
        self._raise_if_halted()
        # the new page's children (a sticky one it keeps has its render already)
        await self.wait_children()

    async def send_raw(self, data: bytes) -> None:
        """Hand bytes to the transport as the socket loop does (after pending acks).

        For frames built by `client`, prefer `send`: a frame built before the pending
        acks were numbered would arrive with a smaller sequence number than they have.
        """
        await self._flush()
        await self._deliver(data)

    async def _deliver(self, data: bytes) -> None:
        await self.socket.wait_readable()
        await self.transport.ask(Receive(data), timeout=None)
        self.pump()

    async def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        """Pump frames until `condition()` holds; fail after `DEFAULT_WAIT` seconds."""
        try:
            await asyncio.wait_for(self._until(condition), DEFAULT_WAIT)
        except TimeoutError:
            raise LiveTestError(
                f"no {what} within {DEFAULT_WAIT:g}s; errors so far: {self.errors}"
            ) from None

    async def settle(self, condition: Callable[[], bool] | None = None) -> None:
        """Let queued messages run, then pump (for things with no answer to wait for)."""
        for _ in range(50):
            await asyncio.sleep(0)
            self.pump()
            if condition is not None and condition():
                return

    def pump(self) -> None:
        """Feed every frame the transport wrote to the client; queue its acks and pongs."""
        while self.socket.frames:
            for reply in self.client.feed(self.socket.frames.popleft()):
                self._replies.append(reply)

    async def close(self) -> None:
        self.transport.tell(SocketClosed())

    # -- forms, uploads, async work (LiveViewTest's form, file_input, render_async) -----

    def form(self, selector: str, data: Mapping[str, JSONValue] | None = None) -> FormHandle:
        """The form matching `selector` (``#profile``, ``form[lf-submit=save]``), with
        `data` typed into it; ``render_change()`` / ``render_submit()`` send it."""
        return FormHandle(self, selector, dict(data or {}))

    def file_input(self, selector: str, upload: str, files: Sequence[UploadFile]) -> FileInput:
        """Files chosen in the file input of `upload` inside the element matching
        `selector`; ``render_upload(input, name)`` sends one of them."""
        container = self._node(selector)
        inputs = [
            n for n in container.walk() if n.tag == "input" and n.attrs.get("lf-upload") == upload
        ]
        if not inputs:
            raise LiveTestError(
                f"no file input with lf-upload={upload!r} (render live_file_input) in {selector!r}"
            )
        return FileInput(upload, tuple(files), inputs[0].attrs.get("lf-target") or None)

    async def render_upload(self, input: FileInput, name: str, percent: int = 100) -> str:
        """Send file `name` of `input` up to `percent` of its bytes (preflighting every
        file of the input first, once), as the client does; return the HTML."""
        file = next((f for f in input.files if f.name == name), None)
        if file is None:
            raise LiveTestError(f"{name!r} is not one of the files given to file_input")
        if not input.preflighted:
            entries: list[JSONValue] = [
                {"ref": str(i), "name": f.name, "size": len(f.content), "type": f.type}
                for i, f in enumerate(input.files)
            ]
            await self.push(
                "lf:upload", {"upload": input.upload, "entries": entries}, target=input.target
            )
            input.preflighted = True
        ref = str(input.files.index(file))
        found = [
            n
            for n in select(parse(self.html()), f'input[lf-upload="{input.upload}"]')
            if (n.attrs.get("lf-target") or None) == input.target
        ]
        element = found[0] if found else None
        ready = (element.attrs.get("data-lf-ready") or "").split() if element else []
        if ref not in ready:
            return self.html()  # refused (its error is in the view) or already sent
        signed = element.attrs.get("data-lf-external") if element else None
        if signed:
            # An external upload: the uploader would send the file to the entry's URL and
            # report its progress; here the progress is reported, the file goes nowhere.
            try:
                metas = msgspec.json.decode(signed)
            except msgspec.DecodeError:
                raise LiveTestError(f"data-lf-external does not decode: {signed!r}") from None
            if isinstance(metas, dict) and ref in metas:
                input.meta[ref] = metas[ref]
                reached = max(0, min(percent, 100))
                if reached > input.sent.get(ref, -1):
                    progress: JSONValue = {
                        "upload": input.upload,
                        "entry": ref,
                        "progress": reached,
                    }
                    await self.push("lf:progress", progress, target=input.target)
                    input.sent[ref] = reached
            return self.html()
        chunk = int((element.attrs.get("data-lf-chunk") if element else None) or 32_768)
        goal = len(file.content) * max(0, min(percent, 100)) // 100
        offset = input.sent.get(ref, 0)
        while offset < goal:
            data = file.content[offset : min(offset + chunk, goal)]
            payload: JSONValue = {
                "upload": input.upload,
                "entry": ref,
                "offset": offset,
                "data": base64.b64encode(data).decode("ascii"),
            }
            await self.push("lf:chunk", payload, target=input.target)
            offset += len(data)
            input.sent[ref] = offset
        return self.html()

    async def render_async(self, timeout: float = DEFAULT_WAIT) -> str:
        """Wait until the session runs no ``assign_async`` / ``start_async`` work, then
        return the HTML with what it rendered (LiveViewTest's ``render_async``)."""
        session_id = self.client.session_id or ""
        refs = [cast(ActorRef[AwaitAsync], ref) for ref in await self.hub.sessions()]

        async def ask(ref: ActorRef[AwaitAsync]) -> bool:
            try:
                return await ref.ask(AwaitAsync(session_id), timeout=timeout)
            except (ActorExited, ActorNotAlive):
                return False

        try:
            found = await asyncio.gather(*(ask(ref) for ref in refs))
        except AskTimeout:
            raise LiveTestError(f"async work still running after {timeout:g}s") from None
        if not any(found):
            raise LiveTestError(f"no running session has the id {session_id!r}")
        await self.settle()
        return self.html()

    def _node(self, selector: str) -> Node:
        """The one element of the rendered HTML matching `selector`."""
        try:
            found = select(parse(self.html()), selector)
        except SelectorError as error:
            raise LiveTestError(str(error)) from None
        if len(found) == 1:
            self._not_in_child(found[0], selector)
        if len(found) != 1:
            raise LiveTestError(
                f"{len(found)} elements match {selector!r} in the rendered HTML; expected one"
            )
        return found[0]

    # -- live children (live_render) ----------------------------------------------------

    @property
    def path(self) -> str:
        """The live child's path ("" for the page's view)."""
        return ""

    def live_children(self) -> list[LiveChildHandle]:
        """The live children this view shows now (Phoenix's ``live_children/1``), in page
        order: each a handle to click, submit and render like this one."""
        return [LiveChildHandle(self, path) for path in self.client.child_paths(self.path)]

    def find_live_child(self, id: str) -> LiveChildHandle:
        """The live child with `id` among this view's (Phoenix's ``find_live_child/2``);
        `LiveTestError` naming the children there are if none has it."""
        path = f"{self.path}/{id}" if self.path else id
        if path not in self.client.child_paths(self.path):
            known = [p.rsplit("/", 1)[-1] for p in self.client.child_paths(self.path)]
            raise LiveTestError(
                f"{self.view or 'the view'} shows no live child {id!r} "
                f"(its children: {', '.join(known) or 'none'})"
            )
        return LiveChildHandle(self, path)

    def _not_in_child(self, node: Node, selector: str) -> None:
        """An element the page shows inside a live child belongs to the child: its events
        go there (as the browser's do), through `find_live_child`."""
        current = node.parent
        while current is not None:
            child = current.attrs.get("data-lf-child")
            if child:
                raise LiveTestError(
                    f"{selector!r} is inside live child {child!r}: use "
                    f"find_live_child(view, {child!r}) to act on it"
                )
            current = current.parent

    # -- internals --------------------------------------------------------------------

    async def _join(
        self,
        view: str,
        session_id: str,
        token: str,
        params: Mapping[str, str],
        flash: str = "",
    ) -> None:
        mount = self.client.mount_instruction(view, session_id, token, params)
        if flash:
            mount = Mount(id=mount.id, target=mount.target, params={**mount.params, "flash": flash})
        await self.send(mount)
        await self.send(Render())

    async def _flush(self) -> None:
        self.pump()
        while self._replies and not self.closed:
            await self.socket.wait_readable()
            await self.transport.ask(Receive(self._replies.popleft()), timeout=None)
            self.pump()

    async def _until(self, condition: Callable[[], bool]) -> None:
        while True:
            await self._flush()
            if condition():
                return
            if self.closed:
                raise LiveTestError(
                    f"the server closed the connection ({self.socket.close_code} "
                    f"{self.socket.close_reason}); errors: {self.errors}"
                )
            self.socket.arrived.clear()
            await self.socket.arrived.wait()

    def _element(self, attribute: str, event: str, id: str | None = None) -> _Element:
        finder = _Finder()
        finder.feed(self.client.own_html(self.path))
        for element in finder.elements:
            if _binds(element.attrs.get(attribute), event) and (
                id is None or element.attrs.get("id") == id
            ):
                return element
        present = sorted(
            {e.attrs[attribute] or "" for e in finder.elements if attribute in e.attrs}
        )
        which = f"{attribute}={event!r}" + (f" and id={id!r}" if id is not None else "")
        raise LiveTestError(
            f"no element with {which} in the rendered HTML "
            f"(it has {attribute} for: {', '.join(present) or 'none'})"
        )


class LiveChildHandle(LiveViewHandle):
    """A live child (`live_render`) of a mounted view, as a test sees it: the same
    actions and assertions as its parent's handle (``click``, ``render_click``,
    ``element``, ``html``, ``patches``, ``resync``), on the child's own HTML, its events
    going to the child's session over the parent's connection."""

    def __init__(self, parent: LiveViewHandle, path: str) -> None:
        super().__init__(parent.hub, parent.transport, parent.socket)
        self.client = parent.client
        self.view = parent.view
        self.token = parent.token
        self._replies = parent._replies  # one connection: the acks owed are shared
        self._path = path
        self.parent = parent

    def __repr__(self) -> str:
        return f"<live child {self._path!r} of {self.view!r}>"

    @property
    def path(self) -> str:
        return self._path

    @property
    def id(self) -> str:
        """The child's id (its container's DOM id)."""
        return self._path.rsplit("/", 1)[-1]

    def html(self) -> str:
        """The child's HTML as the page shows it inside its container."""
        return self.client.child_html(self._path)

    @property
    def patches(self) -> list[LivePatch]:
        """The child's patches after its last full render, oldest first."""
        return self.client.child_patches.get(self._path, [])

    @property
    def renders(self) -> int:
        """How many full renders the child sent (1 after its mount; more after a
        restart, or a `resync`)."""
        return self.client.child_renders.get(self._path, 0)

    @property
    def alive(self) -> bool:
        """Whether the parent shows this child now."""
        parent_path = self._path.rpartition("/")[0]
        return self._path in self.client.child_paths(parent_path)

    async def send_event(self, event: str, payload: JSONValue, *, target: str | None = None) -> str:
        path = self._path if target is None else f"{self._path}/{target}"
        return await super().send_event(event, payload, target=path)

    async def resync(self) -> str:
        renders = self.renders
        await self.send(Render(view={"child": self._path}))
        await self.wait_for(lambda: self.renders > renders, f"the full render of {self._path}")
        return self.html()

    async def wait_for_render(self, renders: int) -> str:
        """Wait until the child sent more than `renders` full renders (a restart)."""
        await self.wait_for(lambda: self.renders > renders, f"a new render of {self._path}")
        return self.html()


def live_children(view: LiveViewHandle) -> list[LiveChildHandle]:
    """Phoenix's ``live_children(view)``: the live children `view` shows now."""
    return view.live_children()


def find_live_child(view: LiveViewHandle, id: str) -> LiveChildHandle:
    """Phoenix's ``find_live_child(view, id)``: `view`'s live child with `id`."""
    return view.find_live_child(id)


class UploadFile(msgspec.Struct, frozen=True):
    """A file a test chooses in a file input: its `name`, bytes and MIME `type`."""

    name: str
    content: bytes
    type: str = ""


class FileInput:
    """Files chosen in one upload's input (`LiveViewHandle.file_input`)."""

    def __init__(
        self, upload: str, files: tuple[UploadFile, ...], target: str | None = None
    ) -> None:
        self.upload = upload
        self.files = files
        self.target = target  # the live component whose upload it is (its lf-target)
        self.meta: dict[str, object] = {}  # an external upload's meta, per entry ref
        self.preflighted = False
        self.sent: dict[str, int] = {}  # bytes sent per entry ref


class FormHandle:
    """A form of the rendered view with data typed into it (`LiveViewHandle.form`).

    Fields the test typed into (`data`, then each call's `data`) are used; the others
    go out as ``_unused_<name>`` on a change, as the client sends them, so the view
    shows errors only for what the user touched. A submit uses every field.
    """

    def __init__(self, view: LiveViewHandle, selector: str, data: dict[str, JSONValue]) -> None:
        self.view = view
        self.selector = selector
        self.data = data
        self.used: set[str] = set(data)

    async def render_change(
        self, data: Mapping[str, JSONValue] | None = None, *, target: str | None = None
    ) -> str:
        """Send the form's ``lf-change`` event (``_target``: `target`, else the last field
        typed into); return the new HTML."""
        self._type(data)
        event, fields, component = self._form("lf-change")
        payload = dict(fields)
        payload.update(self.data)
        for name in fields:
            if name not in self.used:
                payload[f"_unused_{name}"] = ""
        payload["_target"] = target if target is not None else next(reversed(self.data), "")
        await self.view.push(event, payload, target=component)
        return self.view.html()

    async def render_submit(self, data: Mapping[str, JSONValue] | None = None) -> str:
        """Send the form's ``lf-submit`` event with every field; return the new HTML."""
        self._type(data)
        event, fields, component = self._form("lf-submit")
        payload = dict(fields)
        payload.update(self.data)
        await self.view.push(event, payload, target=component)
        return self.view.html()

    def trigger_action(self) -> TriggerAction:
        """LiveViewTest's ``follow_trigger_action``: the HTTP request the browser sends
        for this form once a render set its ``lf-trigger-action`` (its method, its
        ``action`` as written, every field with what was typed); a `LiveTestError` when
        the attribute is not set. Send it to the app under test."""
        node = self.view._node(self.selector)
        if node.tag != "form":
            raise LiveTestError(f"{self.selector!r} is a <{node.tag}>, not a <form>")
        flag = node.attrs.get("lf-trigger-action", "false")
        if flag is None:
            flag = ""
        if flag == "false":
            raise LiveTestError(
                f"the form {self.selector!r} has no lf-trigger-action set: the browser would "
                "not submit it (render it with lf-trigger-action once the view wants the post)"
            )
        fields = form_fields(node)
        fields.update(self.data)
        method = (node.attrs.get("method") or "get").upper()
        return TriggerAction(method, node.attrs.get("action") or "", dict(fields))

    def _type(self, data: Mapping[str, JSONValue] | None) -> None:
        if data:
            self.data.update(data)
            self.used.update(data)

    def _form(self, binding: str) -> tuple[str, dict[str, JSONValue], str | None]:
        """The form's event for `binding`, its fields as the client would send them, and
        the live component the event goes to (its ``lf-target``; None: the view)."""
        node = self.view._node(self.selector)
        if node.tag != "form":
            raise LiveTestError(f"{self.selector!r} is a <{node.tag}>, not a <form>")
        event = node.attrs.get(binding)
        if event is None:
            raise LiveTestError(f"the form {self.selector!r} has no {binding} binding")
        fields = form_fields(node)
        unknown = sorted(set(self.data) - set(fields))
        if unknown:
            raise LiveTestError(
                f"the form {self.selector!r} has no field {', '.join(map(repr, unknown))} "
                f"(it has: {', '.join(fields) or 'none'})"
            )
        return event, fields, _target_of(node, binding, event)


class TriggerAction(msgspec.Struct, frozen=True):
    """The HTTP request of a form's ``lf-trigger-action`` (`FormHandle.trigger_action`)."""

    method: str
    action: str
    data: dict[str, JSONValue]


def open_browser(
    target: LiveViewHandle | Element,
    opener: Callable[[str], object] | None = None,
    *,
    folder: Path | None = None,
) -> Path:
    """LiveViewTest's ``open_browser``: write the view's HTML (or the element's) to a file
    and open it with `opener` (default: `webbrowser.open`) as a ``file://`` URL; returns
    the file (a static snapshot: no client script runs in it). `folder`: where to write
    (default: a new temp folder)."""
    import tempfile
    import webbrowser
    from html import escape as html_escape

    view = target.view if isinstance(target, Element) else target
    body = target.html() if isinstance(target, Element) else view.html()
    where = folder if folder is not None else Path(tempfile.mkdtemp(prefix="lightflow-view-"))
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{view.view}.html"
    title = html_escape(view.page_title() or view.view)
    path.write_text(
        f'<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body>{body}</body></html>",
        encoding="utf-8",
    )
    (opener or webbrowser.open)(path.as_uri())
    return path


class Element:
    """An element of a mounted view, found by `selector` (and `text`) each time it is used
    (LiveViewTest's ``element/3``): after a patch it is looked up again."""

    __slots__ = ("selector", "text_filter", "view")

    def __init__(self, view: LiveViewHandle, selector: str, text: str | None) -> None:
        select(Node("#document", {}, None), selector)  # a bad selector fails here, early
        self.view = view
        self.selector = selector
        self.text_filter = text

    def __repr__(self) -> str:
        extra = f", {self.text_filter!r}" if self.text_filter is not None else ""
        return f"element({self.selector!r}{extra})"

    def node(self) -> Node:
        """The one element matching now; `LiveTestError` if none or several do."""
        found = select(parse(self.view.html()), self.selector, self.text_filter)
        if len(found) != 1:
            what = "no element" if not found else f"{len(found)} elements"
            raise LiveTestError(
                f"{what} match {self!r} in the rendered HTML; an element must match exactly one"
            )
        return found[0]

    def event_node(self) -> Node:
        """`node`, for sending its event: one inside a live child belongs to the child
        (`LiveTestError` naming it; act on it through ``find_live_child``)."""
        node = self.node()
        self.view._not_in_child(node, self.selector)
        return node

    def exists(self) -> bool:
        return bool(select(parse(self.view.html()), self.selector, self.text_filter))

    def text(self) -> str:
        """The element's text, unescaped."""
        return self.node().text()

    def html(self) -> str:
        """The element's HTML (LiveViewTest's ``render(element)``)."""
        return outer_html(self.node())

    async def render_click(self, values: Mapping[str, JSONValue] | None = None) -> str:
        return await self.view.render_click(self, values)

    async def render_submit(self, values: Mapping[str, JSONValue] | None = None) -> str:
        return await self.view.render_submit(self, values)

    async def render_change(
        self, values: Mapping[str, JSONValue] | None = None, *, field: str = ""
    ) -> str:
        return await self.view.render_change(self, values, field=field)

    async def render_keydown(self, key: str, values: Mapping[str, JSONValue] | None = None) -> str:
        return await self.view.render_keydown(self, key, values)

    async def render_keyup(self, key: str, values: Mapping[str, JSONValue] | None = None) -> str:
        return await self.view.render_keyup(self, key, values)

    async def render_focus(self, values: Mapping[str, JSONValue] | None = None) -> str:
        return await self.view.render_focus(self, values)

    async def render_blur(self, values: Mapping[str, JSONValue] | None = None) -> str:
        return await self.view.render_blur(self, values)

    async def render_viewport_top(self) -> str:
        return await self.view.render_viewport_top(self)

    async def render_viewport_bottom(self) -> str:
        return await self.view.render_viewport_bottom(self)


def element(view: LiveViewHandle, selector: str, text: str | None = None) -> Element:
    """LiveViewTest's ``element(view, selector, text)``."""
    return view.element(selector, text)


def has_element(
    target: LiveViewHandle | Element, selector: str | None = None, text: str | None = None
) -> bool:
    """LiveViewTest's ``has_element?``: ``has_element(view, "#a", "text")`` or
    ``has_element(view.element("#a"))``."""
    if isinstance(target, Element):
        return target.exists()
    if selector is None:
        raise LiveTestError("has_element(view, selector, text): give a selector")
    return target.has_element(selector, text)


async def render_click(
    target: Element | LiveViewHandle,
    event: str | Mapping[str, JSONValue] | None = None,
    values: Mapping[str, JSONValue] | None = None,
) -> str:
    """``render_click(element, values)`` or ``render_click(view, "event", values)``."""
    if isinstance(target, Element):
        return await target.view.render_click(target, _mapping(event, values))
    if not isinstance(event, str):
        raise LiveTestError("render_click(view, event, values): name the event")
    return await target.render_click(event, values)


async def render_submit(
    target: Element | LiveViewHandle,
    event: str | Mapping[str, JSONValue] | None = None,
    values: Mapping[str, JSONValue] | None = None,
) -> str:
    """``render_submit(form_element, values)`` or ``render_submit(view, "event", values)``."""
    if isinstance(target, Element):
        return await target.view.render_submit(target, _mapping(event, values))
    if not isinstance(event, str):
        raise LiveTestError("render_submit(view, event, values): name the event")
    return await target.render_submit(event, values)


async def render_change(
    target: Element | LiveViewHandle,
    event: str | Mapping[str, JSONValue] | None = None,
    values: Mapping[str, JSONValue] | None = None,
    *,
    field: str = "",
) -> str:
    """``render_change(form_element, values)`` or ``render_change(view, "event", values)``."""
    if isinstance(target, Element):
        return await target.view.render_change(target, _mapping(event, values), field=field)
    if not isinstance(event, str):
        raise LiveTestError("render_change(view, event, values): name the event")
    return await target.render_change(event, values, field=field)


def _mapping(
    first: str | Mapping[str, JSONValue] | None, second: Mapping[str, JSONValue] | None
) -> Mapping[str, JSONValue] | None:
    if isinstance(first, str):
        raise LiveTestError("an element already names its event; pass only the values")
    return first if first is not None else second


def _binding(node: Node, attribute: str, element: Element) -> str:
    """The event `attribute` sends: its value, or the first ``push`` of its JS commands."""
    spec = node.attrs.get(attribute)
    if not spec:
        raise LiveTestError(f"{element!r} has no {attribute} attribute: it sends no such event")
    pushes = _js_pushes(spec)
    if not pushes:
        raise LiveTestError(f"{element!r}: the JS commands of {attribute} push no event")
    return pushes[0][0]


def _bound_attribute(node: Node, kind: str, element: Element) -> str:
    """``lf-<kind>`` if the element has it, else ``lf-window-<kind>`` (as LiveViewTest's
    render_keydown/focus... take an element bound either way)."""
    for attribute in (f"lf-{kind}", f"lf-window-{kind}"):
        if node.attrs.get(attribute):
            return attribute
    raise LiveTestError(
        f"{element!r} has neither lf-{kind} nor lf-window-{kind}: it sends no {kind} event"
    )


def _field_value(node: Node) -> str | None:
    """What ``el.value`` holds for a field, as the client sends it (None: not a field)."""
    if node.tag == "textarea":
        return node._text()
    if node.tag == "input":
        kind = (node.attrs.get("type") or "text").lower()
        default = "on" if kind in ("checkbox", "radio") else ""
        return node.attrs.get("value") or default
    return None


def _closest_target(node: Node | None) -> str | None:
    """The ``lf-target`` of `node` or its nearest ancestor with one (None: the view)."""
    while node is not None:
        target = node.attrs.get("lf-target")
        if target:
            return target
        node = node.parent
    return None


def _target_of(node: Node, attribute: str, event: str) -> str | None:
    """The component an event goes to: its JS push's target, else the lf-target."""
    return _pushed_target(node.attrs.get(attribute), event) or node.attrs.get("lf-target") or None


def _values_of(attrs: Mapping[str, str | None]) -> dict[str, JSONValue]:
    return {
        name[len("lf-value-") :]: value or ""
        for name, value in attrs.items()
        if name.startswith("lf-value-")
    }


class LiveTest:
    """A running hub for tests, seen by one browser: `mount` gives a `LiveViewHandle`
    per page it opens; `cookies` is its cookie jar (the session cookie the hub set, the
    flash cookie of a redirect), sent with every page and WebSocket handshake."""

    def __init__(self, system: ActorSystem, hub: LiveHub) -> None:
        self.system = system
        self.hub = hub
        self.cookies: dict[str, str] = {}
        self.headers: dict[str, str] = {"user-agent": "lightflow-live-test"}

    def new_browser(self) -> LiveTest:
        """Another browser on the same hub: an empty cookie jar (a second profile)."""
        return LiveTest(self.system, self.hub)

    @property
    def tenants(self) -> TenantLedger:
        """The hub's tenant ledger (`live_test(tenants=...)`): each tenant's use, refusals
        and recorded events; `reconfigure` changes budgets mid-test."""
        if self.hub.tenants is None:
            raise LiveTestError("this hub has no tenant budgets; pass live_test(tenants=...)")
        return self.hub.tenants

    def put_session(self, values: Mapping[str, SessionValue]) -> None:
        """Set the signed cookie session to `values` (Phoenix's ``init_test_session``)."""
        settings = self.hub.session_cookie
        sid = secrets.token_hex(16)
        current = self.cookies.get(settings.name)
        if current is not None:
            with suppress(SessionCookieError):
                sid = self.hub.seal.read_session(current).sid
        session = CookieSession(sid=sid, at=self.hub.seal.now(), data=dict(values))
        self.cookies[settings.name] = self.hub.seal.cookie.sign(session)

    @property
    def session(self) -> dict[str, SessionValue]:
        """What the browser's session cookie holds now ({} without one)."""
        token = self.cookies.get(self.hub.session_cookie.name)
        if token is None:
            return {}
        return dict(self.hub.seal.read_session(token).data)

    def request(self) -> RequestInfo:
        """What this browser sends with a request: its cookies and headers."""
        return RequestInfo.from_request(self.cookies, self.headers.items())

    async def mount(
        self,
        view: str,
        params: Mapping[str, str] | None = None,
        *,
        cookies: Mapping[str, str] | None = None,
        session: Mapping[str, SessionValue] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> LiveViewHandle:
        """Open the page of `view` (its GET, then the WebSocket join) as this browser;
        `cookies` are added to the jar, `session` replaces the cookie session, `headers`
        are added to what this browser sends. Raises `LiveRedirect` when an ``on_mount``
        hook halts (on the GET or the join)."""
        await self.hub.start()
        if cookies:
            self.cookies.update(cookies)
        if headers:
            self.headers.update({name.lower(): value for name, value in headers.items()})
        if session is not None:
            self.put_session(session)
        rendered = await self.hub.static_render(view, params or {}, self.request())
        self._take(rendered.cookies)
        if isinstance(rendered, Halted):
            raise LiveRedirect(rendered.location, rendered.flash)
        socket = MemorySocket()
        transport = await start_transport(self.hub, socket, self.request())
        handle = LiveViewHandle(self.hub, transport, socket)
        await handle.join(view, params or {}, rendered)
        return handle

    async def follow_redirect(self, redirect: LiveRedirect | LiveViewHandle) -> LiveViewHandle:
        """Go where `redirect` sends the browser (Phoenix's ``follow_redirect``): a halted
        mount's target, or a view's last `Redirect`, `PushNavigate` or `PutSession`.

        A live navigation stays on the view's connection (the flash goes with it) and
        returns the same handle; a redirect loads the new page (through
        ``{base}/session`` first for a `PutSession` or a flash) and returns a new one.
        """
        if isinstance(redirect, LiveRedirect):
            to = redirect.to
        else:
            nav = redirect.last_nav
            if nav is None or nav.kind == "patch":
                raise LiveTestError(f"{redirect.view} did not redirect (last navigation: {nav})")
            if nav.kind == "navigate":
                await redirect.navigate(nav.to, nav.params, flash=nav.flash)
                return redirect
            to = nav.to
        change = _change_token(to)
        if change is not None:
            try:
                applied = self.hub.apply_session_change(change, self.request())
            except SessionCookieError as error:
                raise LiveTestError(f"{{base}}/session refused the change: {error}") from None
            self._take(applied.cookies)
            to = applied.location
        view, _, query = to.partition("?")
        if not view or "/" in view or ":" in view:
            raise LiveTestError(f"the redirect to {to!r} leaves the hub; a test cannot follow it")
        return await self.mount(view, dict(parse_qsl(query, keep_blank_values=True)))

    def _take(self, cookies: tuple[SetCookie, ...]) -> None:
        for cookie in cookies:
            if cookie.max_age <= 0:
                self.cookies.pop(cookie.name, None)
            else:
                self.cookies[cookie.name] = cookie.value


@asynccontextmanager
async def live_test(
    views: Mapping[str, AnyLiveView | GroupedView],
    *,
    config: LiveConfig | None = None,
    system: ActorSystem | None = None,
    seed: int = 0,
    secret: bytes | Path | None = None,
    tenants: TenantsConfig | None = None,
) -> AsyncIterator[LiveTest]:
    """A hub serving `views` on a fresh system (or on `system`, left running after);
    `secret` as `LiveHub`'s (default: the key file under the XDG state dir); with
    `tenants`, the hub admits sessions and events within those budgets (its ledger is
    ``live.hub.tenants``; its refusals are ``over_budget`` lifecycle events, as with
    ``lightflow serve``)."""
    own = system is None
    running = system if system is not None else SupervisedSystem("live-test", seed=seed)
    await running.start()
    ledger = None if tenants is None else TenantLedger(tenants, clock=running.clock)
    reporting = None if ledger is None else report_refusals(ledger, running)
    hub = LiveHub(running, views, config=config, secret=secret, tenants=ledger)
    await hub.start()
    try:
        yield LiveTest(running, hub)
    finally:
        if reporting is not None:
            reporting()
        await hub.stop()
        if own:
            await running.shutdown()


def _change_token(to: str) -> str | None:
    """The token of a ``session?change=<token>`` redirect (a `PutSession`), else None."""
    path, _, query = to.partition("?")
    if path != "session":
        return None
    return dict(parse_qsl(query)).get("change", "")


# -- reading the rendered HTML ---------------------------------------------------------


class _Element:
    __slots__ = ("attrs", "fields", "tag")

    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.fields: dict[str, JSONValue] = {}


class _Finder(HTMLParser):
    """Elements with their attributes; a form also collects its fields' current values."""

    @classmethod
    def parse(cls, html: str) -> list[_Element]:
        finder = cls()
        finder.feed(html)
        return finder.elements

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[_Element] = []
        self._forms: list[_Element] = []
        self._textarea: tuple[_Element, str] | None = None
        self._select: tuple[_Element, str, bool, bool] | None = None
        self._option_text: tuple[_Element, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = _Element(tag, dict(attrs))
        self.elements.append(element)
        if tag == "form":
            self._forms.append(element)
        if tag == "option":
            self._option(element)
            return
        name = element.attrs.get("name")
        if not name or not self._forms or "disabled" in element.attrs:
            return
        form = self._forms[-1]
        kind = element.attrs.get("type", "text")
        if tag == "input" and kind in ("checkbox", "radio"):
            if kind == "checkbox":
                form.fields[name] = "checked" in element.attrs
            elif "checked" in element.attrs:
                form.fields[name] = element.attrs.get("value") or ""
        elif tag == "input" and kind not in ("submit", "button", "file", "reset"):
            form.fields[name] = element.attrs.get("value") or ""
        elif tag == "textarea":
            self._textarea = (form, name)
        elif tag == "select":
            # The selected option(s), else the first (as the browser and `form_fields`).
            multiple = "multiple" in element.attrs
            form.fields[name] = [] if multiple else None
            self._select = (form, name, multiple, False)

    def _option(self, element: _Element) -> None:
        """An ``<option>`` of the open select: the field takes its value when it is the
        first option (single select) or selected."""
        if self._select is None:
            return
        form, name, multiple, picked = self._select
        value = element.attrs.get("value")
        text = value if value is not None else ""
        selected = "selected" in element.attrs
        if multiple:
            chosen = form.fields.get(name)
            if selected and isinstance(chosen, list):
                chosen.append(text)
        elif selected and not picked:
            form.fields[name] = text
            self._select = (form, name, multiple, True)
        elif form.fields.get(name) is None:
            form.fields[name] = text
        self._option_text = (form, name) if value is None and (selected or not picked) else None

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._forms:
            self._forms.pop()
        if tag == "textarea":
            self._textarea = None
        if tag == "select":
            if self._select is not None:
                form, name, multiple, _ = self._select
                if not multiple and form.fields.get(name) is None:
                    del form.fields[name]  # a select without options sends nothing
            self._select = None
        if tag in ("option", "select"):
            self._option_text = None

    def handle_data(self, data: str) -> None:
        if self._option_text is not None:
            form, name = self._option_text  # an option without value: its text
            previous = form.fields.get(name)
            form.fields[name] = (previous if isinstance(previous, str) else "") + data
            return
        if self._textarea is not None:
            form, name = self._textarea
            previous = form.fields.get(name, "")
            form.fields[name] = (previous if isinstance(previous, str) else "") + data


def _js_pushes(spec: str | None) -> list[tuple[str, dict[str, JSONValue]]]:
    """The events a binding sends: its value, or the ``push`` commands of a `JS` list."""
    if not spec:
        return []
    if not spec.startswith("["):
        return [(spec, {})]
    pushes: list[tuple[str, dict[str, JSONValue]]] = []
    for kind, args in JS(spec).commands:
        if kind == "push" and isinstance(args.get("event"), str):
            value = args.get("value")
            pushes.append((str(args["event"]), dict(value) if isinstance(value, dict) else {}))
    return pushes


def _binds(spec: str | None, event: str) -> bool:
    return any(name == event for name, _ in _js_pushes(spec))


def _pushed_target(spec: str | None, event: str) -> str | None:
    """The ``target`` of the JS ``push`` of `event` in `spec`, as lf-target would say it."""
    if not spec or not spec.startswith("["):
        return None
    for kind, args in JS(spec).commands:
        if kind == "push" and args.get("event") == event and isinstance(args.get("target"), int):
            return str(args["target"])
    return None


def _pushed_value(spec: str | None, event: str) -> dict[str, JSONValue]:
    for name, value in _js_pushes(spec):
        if name == event:
            return value
    return {}


def _values(element: _Element) -> dict[str, JSONValue]:
    return {
        name[len("lf-value-") :]: value or ""
        for name, value in element.attrs.items()
        if name.startswith("lf-value-")
    }
