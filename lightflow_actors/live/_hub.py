"""`LiveHub`: the live-session service of one node, as a supervision subtree.

    live (Supervisor, rest_for_one)
    ├── live.pubsub      PubSubServer
    ├── live.presence    PresenceServer
    ├── live.sessions    DynamicSupervisor of LiveSession (temporary)
    └── live.transports  DynamicSupervisor of Transport (temporary)

rest_for_one because each child depends on those before it: if PubSub restarts,
its topic table is empty, so every session (and its connection) must restart too;
browsers then reconnect and mount again. Refs are looked up by name at use time,
so nothing holds a stale ref across a restart. The hub also issues session ids and
the tokens that tie a WebSocket join to the page that served them (HMAC-SHA256).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import inspect
import logging
import shutil
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, Never, TypeVar

from ..isa import Instruction
from ..kernel import Actor, ActorRef, ActorSystem, AnyRef
from ..supervision import (
    ChildAlreadyPresent,
    ChildAlreadyStarted,
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    SupervisorRef,
    start_child,
    start_subsystem,
    stop_subsystem,
    which_children,
)
from ..tenants import TenantLedger
from ._auth import GroupedView, RequestInfo, run_on_mount
from ._commands import PageTitle, Update
from ._component import AnyLiveView, Halt, SessionInfo, ViewSpec
from ._config import LiveConfig
from ._cookie import SessionCookie, SessionSeal, SetCookie, default_session_cookie
from ._errors import HubNotStartedError, UnknownViewError, ViewDefinitionError
from ._presence import PresenceConfig, PresenceServer
from ._program import fill_children, static_children_html
from ._pubsub import Publish, PubSubAdapter, PubSubServer
from ._secret import default_secret_path, load_or_create_secret
from ._session import FlowControl, LiveSession, SessionServices
from ._store import SessionStore
from ._upload import default_upload_root, hub_upload_dir
from ._visit import (
    ChangeApplied,
    SessionEnded,
    Visit,
    apply_change,
    browser_topic,
    read_visit,
    visit_cookies,
)

M = TypeVar("M")

logger = logging.getLogger(__name__)

RESERVED_NAMES: Final = frozenset({"socket", "static", "session", "sse", "poll"})
"""View names the routes use for themselves."""


class StaticRender:
    """The first GET of a view: its HTML and what the page needs to join over WebSocket.

    `cookies` are for the response (the session cookie, signed again; the flash cookie
    deleted once read); `flash` is a signed token of the flash this render showed, for
    the page's join to carry (the connected mount shows it too), or "".
    """

    __slots__ = ("cookies", "flash", "html", "session_id", "title", "token")

    def __init__(
        self,
        html: str,
        session_id: str,
        token: str,
        title: str,
        cookies: tuple[SetCookie, ...] = (),
        flash: str = "",
    ) -> None:
        self.html = html
        self.session_id = session_id
        self.token = token
        self.title = title
        self.cookies = cookies
        self.flash = flash


class Halted:
    """The first GET of a view was halted by an ``on_mount`` hook: answer a redirect to
    `location` (relative to the page) with `cookies` (the session, the `flash` it carries)."""

    __slots__ = ("cookies", "flash", "location")

    def __init__(
        self, location: str, cookies: tuple[SetCookie, ...], flash: dict[str, str]
    ) -> None:
        self.location = location
        self.cookies = cookies
        self.flash = flash


AdapterFactory = Callable[[], Awaitable[PubSubAdapter | None]]
"""Gives the pubsub adapter when the hub starts (None: single node)."""

SecretFactory = Callable[[], Awaitable[bytes | None]]
"""Gives the token key when the hub starts (None: the key file)."""

StoreFactory = Callable[[], Awaitable[SessionStore | None]]
"""Gives the session snapshot store when the hub starts (None: sessions are not kept)."""


class LiveHub:
    """Serve live views on one `ActorSystem`.

    ::

        hub = LiveHub(system, {"counter": Counter()})
        await hub.start()                         # or let live_routes start it lazily
        page = await hub.static_render("counter", {})
        transport = await start_transport(hub, socket)   # lightflow_actors.adapters.ws

    ``secret`` signs session tokens: bytes, the path of a key file, or an async function
    giving the bytes (a cluster's shared key: `adapters.nats.cluster_secret`); by default the
    key file under the XDG state dir (``live/_secret.py``), created on first start,
    so a page served before a restart rejoins after it without a reload. Each hub
    signs with its own key derived from it and its ``name``. ``presence`` sets the
    tracker's timings; ``node`` names this node's presence replica in a cluster;
    ``session_store`` keeps session snapshots, so a rejoining browser continues where it
    was, on this node after a restart or on another (each view's ``rejoin`` decides).
    ``tenants`` admits each tenant's sessions and events within its budgets (ADR 0104;
    the node's one `TenantLedger`, shared with the runs host); None: no budgets.
    """

    def __init__(
        self,
        system: ActorSystem,
        views: Mapping[str, AnyLiveView | GroupedView],
        *,
        config: LiveConfig | None = None,
        secret: bytes | Path | SecretFactory | None = None,
        pubsub_adapter: PubSubAdapter | AdapterFactory | None = None,
        name: str = "live",
        presence: PresenceConfig | None = None,
        node: str = "node",
        session_cookie: SessionCookie | None = None,
        session_store: SessionStore | StoreFactory | None = None,
        tenants: TenantLedger | None = None,
    ) -> None:
        self.system = system
        self.tenants = tenants
        self._config = config if config is not None else LiveConfig()
        self._secret_source = secret
        self._secret: bytes | None = None
        # Each hub its own cookie by default: hubs of one server (the examples, the
        # observer, the runs page) sign with different keys and would otherwise overwrite
        # each other's cookie on every page, each refusing the other's joins.
        self._cookie_settings = session_cookie or default_session_cookie(name)
        self._seal: SessionSeal | None = None
        self._adapter = pubsub_adapter
        self.name = name
        self._presence_config = presence
        self.node = node
        self._store_source = session_store
        self.session_store: SessionStore | None = None
        self._specs: dict[str, ViewSpec] = {}
        for view_name, view in views.items():
            if not view_name or "/" in view_name or view_name in RESERVED_NAMES:
                raise ViewDefinitionError(
                    f"view name {view_name!r} must be one non-empty path segment and not one "
                    f"of {sorted(RESERVED_NAMES)}"
                )
            if isinstance(view, GroupedView):
                spec = ViewSpec(
                    view_name, view.view, live_session=view.live_session, on_mount=view.on_mount
                )
            else:
                spec = ViewSpec(view_name, view)
            self._specs[view_name] = spec
        self._started = False
        self._starting: asyncio.Future[None] | None = None
        self._extra: list[ChildSpec[Never]] = []  # added by `add_children`, kept on restart
        self._upload_dir: Path | None = None  # this hub's upload temp files, while started

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Start the subtree (idempotent, and safe to call from concurrent requests)."""
        if self._started:
            return
        if self._starting is not None:
            await asyncio.shield(self._starting)
            return
        self._starting = self.system.loop.create_future()
        try:
            await self._start()
        except BaseException as error:
            self._starting.set_exception(error)
            self._starting.exception()  # retrieved: a waiter re-raises, none is required
            self._starting = None
            raise
        self._started = True
        self._starting.set_result(None)
        self._starting = None

    async def _start(self) -> None:
        if self._secret is None:
            source = self._secret_source
            if callable(source):  # a cluster's key, read when the hub starts
                source = await source()
            if not isinstance(source, bytes):
                source = load_or_create_secret(source or default_secret_path())
            label = f"lightflow live tokens:{self.name}".encode()
            self._secret = hmac.new(source, label, hashlib.sha256).digest()
            clock = self.system.clock
            self._seal = SessionSeal(
                self._secret, self._cookie_settings, lambda: clock.wall_ms() // 1000
            )
        system, name = self.system, self.name
        # A factory is called now: the adapter may exist only once its link has started
        # (a cluster connection is made by an actor started before the hub).
        adapter = await self._adapter() if callable(self._adapter) else self._adapter
        store = self._store_source
        self.session_store = await store() if callable(store) else store
        if self._config.uploads and self._upload_dir is None:
            root = Path(self._config.upload_dir or default_upload_root())
            try:
                self._upload_dir = hub_upload_dir(root, name, system.random.getrandbits(32))
            except OSError as error:
                # Uploads are one feature of the hub: without a folder for them, every
                # view still serves and a preflight is refused, saying why in the log.
                logger.warning("live uploads are off: cannot use %s (%s)", root, error)
        max_sessions = self._config.max_sessions

        # Presence replicates to the other nodes only when pubsub reaches them.
        replicate = adapter is not None and adapter.remote
        presence_config, node = self._presence_config, self.node

        def presence() -> PresenceServer:
            return PresenceServer(
                system.lookup(f"{name}.pubsub", PubSubServer),
                presence_config,
                node=node,
                replicate=replicate,
            )

        children: list[ChildSpec[Never]] = [
            ChildSpec(id="pubsub", start=lambda: PubSubServer(adapter), name=f"{name}.pubsub"),
            ChildSpec(id="presence", start=presence, name=f"{name}.presence"),
            ChildSpec(
                id="sessions",
                start=lambda: DynamicSupervisor(max_children=max_sessions),
                type="supervisor",
                name=f"{name}.sessions",
            ),
            ChildSpec(
                id="transports",
                start=DynamicSupervisor,
                type="supervisor",
                name=f"{name}.transports",
            ),
        ]
        extra = self._extra
        # A subsystem of the root: if the hub gives up, the root starts it again (with
        # backoff, its added children included), `/ready` names it meanwhile, and its
        # browsers reconnect by themselves.
        await start_subsystem(
            system,
            name,
            lambda: Supervisor([*children, *extra], strategy="rest_for_one"),
            name=name,
        )

    @property
    def supervisor(self) -> SupervisorRef | None:
        """The hub's supervisor now (None before `start`, after `stop`, or while the root
        restarts the hub)."""
        if self.system.whereis(self.name) is None:
            return None
        return self.system.lookup(self.name, Supervisor)

    async def wait_running(self, timeout: float) -> bool:
        """Wait until the started hub's supervisor runs (the root restarts a hub that gave
        up or was killed, after its backoff); False if it is not back within `timeout`
        seconds of the loop clock, or the hub is not started."""
        loop = self.system.loop
        deadline = loop.time() + timeout
        while self.supervisor is None:
            if not self._started or loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def add_children(self, specs: Sequence[ChildSpec[Never]]) -> None:
        """Add `specs` to the started hub's supervisor (each unless one of that name runs);
        they are part of the hub from now on, restarted with it."""
        for spec in specs:
            if spec.id not in {known.id for known in self._extra}:
                self._extra.append(spec)
            supervisor = self.supervisor
            if supervisor is None:
                raise HubNotStartedError("start the hub before adding children to it")
            if spec.name is None or self.system.whereis(spec.name) is None:
                # A restarted hub starts its added children itself: one may be running
                # (or starting) already, which is what was asked for.
                with contextlib.suppress(ChildAlreadyStarted, ChildAlreadyPresent):
                    await start_child(supervisor, spec)

    async def stop(self) -> None:
        """Stop the subtree: every transport, session, presence and pubsub actor."""
        await stop_subsystem(self.system, self.name, name=self.name)
        self._started = False
        if self._upload_dir is not None:
            shutil.rmtree(self._upload_dir, ignore_errors=True)
            self._upload_dir = None

    @property
    def started(self) -> bool:
        return self._started

    # -- what transports and routes use -----------------------------------------------

    @property
    def config(self) -> LiveConfig:
        return self._config

    @property
    def services(self) -> SessionServices:
        self._require("look up the pubsub and presence actors")
        return SessionServices(
            pubsub=self.system.lookup(f"{self.name}.pubsub", PubSubServer),
            presence=self.system.lookup(f"{self.name}.presence", PresenceServer),
            store=self.session_store,
            upload_dir=str(self._upload_dir) if self._upload_dir is not None else None,
            tenants=self.tenants,
        )

    @property
    def view_names(self) -> list[str]:
        return sorted(self._specs)

    def view(self, name: str) -> ViewSpec:
        spec = self._specs.get(name)
        if spec is None:
            raise UnknownViewError(name, list(self._specs))
        return spec

    def new_session_id(self) -> str:
        """A fresh session id: 64 random bits from the system's RNG, as hex."""
        return f"{self.system.random.getrandbits(64):016x}"

    def token(self, session_id: str, binding: str = "") -> str:
        """The token a page carries so its WebSocket may join as `session_id`, from the
        browser whose session cookie has the sid `binding` ("" for a client that keeps
        no cookies, which only such a client can then use)."""
        secret = self._secret
        if secret is None:
            raise HubNotStartedError("sign a session token")
        message = f"{session_id}\x00{binding}".encode()
        digest = hmac.digest(secret, message, "sha256")  # the one-shot C path
        return base64.urlsafe_b64encode(digest[:24]).decode("ascii")

    def verify(self, session_id: str, token: str, binding: str = "") -> bool:
        if self._secret is None:
            return False
        return hmac.compare_digest(self.token(session_id, binding), token)

    @property
    def seal(self) -> SessionSeal:
        """The signers of session cookies, flash and change tokens (after `start`)."""
        if self._seal is None:
            raise HubNotStartedError("sign a session cookie")
        return self._seal

    @property
    def session_cookie(self) -> SessionCookie:
        return self._cookie_settings

    def visit(self, request: RequestInfo) -> Visit:
        """Read one request's session and flash cookies (a bad cookie starts a fresh
        session; `Visit.problem` says why)."""
        return read_visit(self.seal, request)

    async def static_render(
        self, name: str, params: Mapping[str, str], request: RequestInfo | None = None
    ) -> StaticRender | Halted:
        """Mount and render `name` without a session (the GET that works without JS).

        With `request` (what the routes always pass) the cookie session is read, or a
        fresh one started, and the page's token is bound to it; the view's ``on_mount``
        hooks run and may halt (`Halted`). Without, there is no cookie session and the
        token is for a cookie-less client.
        """
        spec = self.view(name)
        seal = self.seal
        session_id = self.new_session_id()
        visit = None if request is None else read_visit(seal, request)
        if visit is None:
            info = SessionInfo(session_id, False, live_session=spec.live_session)
        else:
            info = SessionInfo(
                session_id,
                False,
                signed=visit.data,
                cookies=visit.cookies,
                headers=visit.headers,
                flash=visit.flash,
                live_session=spec.live_session,
            )
        outcome = await run_on_mount(spec.hooks, dict(params), info)
        if isinstance(outcome, Halt):
            cookies = (
                () if visit is None else visit_cookies(seal, visit, visit.session, outcome.flash)
            )
            return Halted(outcome.redirect, cookies, dict(outcome.flash))
        result = spec.view.mount(dict(params), outcome)
        if inspect.isawaitable(result):
            result = await result
        html, children = static_children_html(spec.view, result, outcome.flash)
        if children:
            html = await fill_children(html, children, outcome)
        binding = "" if visit is None else visit.sid
        cookies = () if visit is None else visit_cookies(seal, visit, visit.session)
        flash = seal.seal_flash(outcome.flash, binding) if outcome.flash else ""
        # The page's <title>: the mount's last PageTitle (as the connected mount will
        # show), else the view's class title; the GET shows it without a flicker.
        commands = result.commands if isinstance(result, Update) else ()
        titles = [c.title for c in commands if isinstance(c, PageTitle)]
        title = titles[-1] if titles else type(spec.view).title
        return StaticRender(
            html, session_id, self.token(session_id, binding), title, cookies, flash
        )

    def apply_session_change(self, token: str, request: RequestInfo) -> ChangeApplied:
        """``{base}/session?change=<token>``: apply a view's `PutSession` to this request's
        session; `SessionCookieError` when the token is bad, stale or not this browser's."""
        seal = self.seal
        applied = apply_change(seal, read_visit(seal, request), token)
        if applied.ended is not None:
            # Log out (or in) ends the browser's other tabs too, on every node: their
            # sockets close, and their rejoin is refused (Phoenix's live_socket_id).
            ended = SessionEnded("renewed" if applied.session.sid != applied.ended else "cleared")
            self.services.pubsub.tell(Publish(browser_topic(applied.ended), ended))
        return applied

    async def start_session(
        self, factory: Callable[[], LiveSession]
    ) -> ActorRef[Instruction | FlowControl]:
        sessions = self._supervisor_ref("sessions")
        spec = ChildSpec(id="session", start=factory, restart="temporary", shutdown=1.0)
        return await start_child(sessions, spec)

    async def start_connection(self, start: Callable[[], Actor[M]]) -> ActorRef[M]:
        """Start the actor of a new connection under the transports supervisor.

        The hub does not know what a connection speaks (WebSocket today): the transport
        adapter gives the factory (`lightflow_actors.adapters.ws.start_transport`).
        """
        await self.start()
        transports = self._supervisor_ref("transports")
        spec = ChildSpec(id="transport", start=start, restart="temporary", shutdown=1.0)
        return await start_child(transports, spec)

    async def sessions(self) -> list[AnyRef]:
        """The running session actors (operators, tests)."""
        return [c.ref for c in await which_children(self._supervisor_ref("sessions")) if c.ref]

    async def transports(self) -> list[AnyRef]:
        """The running transport actors, one per open connection."""
        rows = await which_children(self._supervisor_ref("transports"))
        return [c.ref for c in rows if c.ref]

    # -- internals --------------------------------------------------------------------

    def _supervisor_ref(self, child: str) -> SupervisorRef:
        self._require(f"use the {child} supervisor")
        return self.system.lookup(f"{self.name}.{child}", DynamicSupervisor)

    def _require(self, what: str) -> None:
        if not self._started:
            raise HubNotStartedError(what)
