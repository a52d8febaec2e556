"""`Substrate`: the actor that serves a CortexFS tree.

Committed request → claim (rename to `<id>.claimed`) → checks (position, id, symlinks,
size, body) → route → policy → the provider's host → answer files → `<id>.done`. Every
step that decides something is appended to the audit log. The claim-by-rename makes
serving idempotent: a watcher event and a rescan racing for the same file cannot both
win, and on restart `.claimed` files without answer are served again, those with an answer
only closed. See specs/cortexfs-abi.md §Serving for the state machine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from lightflow_actors.cortex import (
    API_FORMATS,
    CtxLayout,
    RouteRecord,
    Suffix,
    TargetKind,
    atomic_write,
    is_segment_id,
    is_short_id,
)
from lightflow_actors.kernel import Actor, ActorRef, AnyRef, Ask, Down, StartFailed, handler

from ._answers import answered, close_claim, write_error, write_response
from ._audit import AuditEvent, AuditLog
from ._config import SubstrateConfig
from ._errors import ConfigError, RequestRefused
from ._fuse_probe import FuseUnavailable, libfuse_missing
from ._intake import Location, check_location, decode_body, locate, read_request, stays_in_tree
from ._jobs import Dispatch, HookRunner, JobRunner, read_status
from ._scan import inboxes, subdirs, waiting_files
from ._tree import ensure_tree
from ._watcher import Committed, DirectoryWatcher, Rescan
from .providers import Answer, Failure, ProviderHost, ProviderRequest, ProviderSpec, Serve, Served

if TYPE_CHECKING:
    from ._fuse import FuseBackend  # imported for real by `_fuse_backend` (libfuse)

__all__ = ["Stats", "Substrate", "SubstrateMessage", "SubstrateStats"]


class SubstrateStats(msgspec.Struct, frozen=True):
    served: int
    errors: int
    refused: int
    duplicates: int
    in_flight: int
    watch_mode: str


class Stats(Ask[SubstrateStats], frozen=True):
    """Counters of this substrate incarnation (tests, bench, operators)."""


SubstrateMessage = Committed | Rescan | Served | Stats | Dispatch


class _Pending(msgspec.Struct):
    loc: Location
    raw: bytes
    reason: str
    model: str


class Substrate(Actor[SubstrateMessage | Down]):
    """Serves `config.root` with `providers`; see the module docstring for the cycle.

    ::

        config = SubstrateConfig(root="/srv/ctx", uids=("1000",), routes=Routes(api={"*": "echo"}))
        substrate = await system.start_actor(
            lambda: Substrate(config, [callable_provider("echo", lambda r: r.body)])
        )
    """

    def __init__(self, config: SubstrateConfig, providers: Sequence[ProviderSpec]) -> None:
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ConfigError(f"provider names must be unique, got {names}")
        unknown = config.routes.providers() - set(names)
        if unknown:
            raise ConfigError(
                f"routes name providers {sorted(unknown)} that were not given; "
                f"known providers: {sorted(names)}"
            )
        self._config = config
        self._root = Path(config.root)
        self._specs = {p.name: p for p in providers}
        self._hosts: dict[str, ActorRef[Serve]] = {}
        self._pending: dict[int, _Pending] = {}
        self._claimed: set[str] = set()  # claim paths being served by this incarnation
        self._token = 0
        self._audit: AuditLog | None = None
        self._watcher: AnyRef | None = None
        self._runners: dict[str, AnyRef] = {}  # job/hook folder -> its runner
        self._runner_monitors: dict[int, str] = {}
        self._counts = {"served": 0, "errors": 0, "refused": 0, "duplicates": 0}

    # -- lifecycle ------------------------------------------------------------------------
    async def on_start(self) -> None:
        cfg = self._config
        for uid in cfg.uids:
            ensure_tree(CtxLayout(cfg.root, uid), tools=cfg.tools, threads=cfg.threads)
        if not cfg.uids:
            (self._root / "home").mkdir(parents=True, exist_ok=True)
            (self._root / "audit").mkdir(parents=True, exist_ok=True)
            for tool in cfg.tools:
                ensure_tree(CtxLayout(cfg.root, "0"), tools=(tool,))
        self._audit = AuditLog(
            self._root / "audit" / "events.jsonl",
            self.system.clock.wall_ms,
            durable=cfg.durable_audit,
        )
        for name, spec in self._specs.items():
            self._hosts[name] = self.spawn(
                lambda spec=spec: ProviderHost(  # type: ignore[misc]
                    spec,
                    self.audit,
                    max_restarts=cfg.max_restarts,
                    period_s=cfg.restart_period_s,
                    shutdown_s=cfg.provider_shutdown_s,
                ),
                link=True,
            )
        self._publish_routes()
        self.audit.append(AuditEvent("substrate.started", reason=str(self._root)))
        if cfg.mount is not None:
            mount, limit = Path(cfg.mount), cfg.max_request_bytes
            fuse_backend = _fuse_backend(mount)
            try:
                await self.system.start_actor(
                    lambda: fuse_backend(self._root, mount, self.ref, limit),
                    parent=self.ref,
                    link=True,
                )
            except StartFailed as exc:
                # Surface the cause (FuseUnavailable, with its reason) as our own start failure.
                if isinstance(exc.reason, Exception):
                    raise exc.reason from None
                raise
        # On FUSE, commits arrive from the mount's rename; the watcher only polls slowly
        # for requests dropped into the backing folder directly.
        fuse = cfg.mount is not None
        self._watcher = self.spawn(
            lambda: DirectoryWatcher(
                self._root,
                self.ref,
                mode="poll" if fuse else cfg.watch,
                poll_interval_s=cfg.rescan_interval_s if fuse else cfg.poll_interval_s,
                rescan_interval_s=cfg.rescan_interval_s,
                interesting=_interesting,
            ),
            link=True,
        )
        # After the watcher is up, so nothing committed in between is missed.
        self.ref.tell(Rescan())

    def _publish_routes(self) -> None:
        """Write `route/<kind>.json` (the route tables) and `model/<provider>.json`."""
        routes = self._config.routes
        (self._root / "route").mkdir(parents=True, exist_ok=True)
        (self._root / "model").mkdir(parents=True, exist_ok=True)
        for kind in ("api", "tool", "thread"):
            table = routes.table(kind)
            atomic_write(self._root / "route" / f"{kind}.json", msgspec.json.encode(table))
        for name, spec in self._specs.items():
            if is_segment_id(name):
                record = {"provider": name, "model": spec.model}
                atomic_write(self._root / "model" / f"{name}.json", msgspec.json.encode(record))

    def on_stop(self, reason: object) -> None:
        if self._audit is not None:
            self._audit.append(AuditEvent("substrate.stopped", reason=str(reason)))
            self._audit.close()

    @property
    def audit(self) -> AuditLog:
        assert self._audit is not None, "the audit log opens in on_start"
        return self._audit

    # -- intake ---------------------------------------------------------------------------
    @handler
    def committed(self, msg: Committed) -> None:
        path = Path(msg.path)
        loc = locate(self._root, path)
        if loc is not None:
            self._claim(loc, path)
        elif _is_job_file(msg.path) or _is_hook_file(msg.path):
            self._folder_runner(path.parent)

    @handler
    def rescan(self, msg: Rescan) -> None:
        for inbox in inboxes(self._root):
            for path in waiting_files(inbox, (Suffix.REQUEST, Suffix.CLAIMED)):
                if path.name.endswith(Suffix.REQUEST):
                    loc = locate(self._root, path)
                    if loc is not None:
                        self._claim(loc, path)
                elif str(path) not in self._claimed:
                    loc = locate(self._root, path, Suffix.CLAIMED)
                    if loc is not None:
                        self._serve(loc, resumed=True)
        for home in subdirs(self._root / "home"):
            for area in ("job", "hook"):
                for folder in subdirs(home / area):
                    self._folder_runner(folder)

    # -- jobs and hooks -------------------------------------------------------------------
    def _folder_runner(self, folder: Path) -> None:
        """Start the runner a job or hook folder needs, unless one runs or none is due."""
        key = str(folder)
        if key in self._runners:
            return
        try:
            home, area, name = folder.relative_to(self._root / "home").parts
        except ValueError:
            return
        if area not in ("job", "hook") or not is_short_id(name) or not is_segment_id(home):
            return
        if not stays_in_tree(self._root, folder):
            return
        if area == "job":
            if not (folder / "req").is_file() or read_status(folder) not in (
                None,
                "",
                "queued",
                "running",
            ):
                return
            ref: AnyRef = self.spawn(lambda: JobRunner(folder, home, self.ref, self.audit))
        else:
            if not (folder / "trigger").is_file():
                return
            ref = self.spawn(lambda: HookRunner(folder, home, self.ref, self.audit))
        self._runners[key] = ref
        self._runner_monitors[self.monitor(ref)] = key

    @handler
    def runner_down(self, msg: Down) -> None:
        key = self._runner_monitors.pop(msg.monitor, None)
        if key is not None:
            self._runners.pop(key, None)

    @handler
    def dispatch(self, msg: Dispatch) -> None:
        """Serve a job's or hook's request: same checks, routes, policy and providers."""
        try:
            body = decode_body(msg.kind, msg.raw)
            provider, _ = self._decide(msg.kind, msg.name, None)
        except RequestRefused as refusal:
            msg.reply_to.tell(Served(0, "", Failure(refusal.kind, refusal.message)))
            return
        request = ProviderRequest(msg.kind, msg.name, msg.uid, msg.id, body, msg.raw)
        self._token += 1
        self._hosts[provider].tell(Serve(self._token, request, msg.reply_to))

    def _claim(self, loc: Location, path: Path) -> None:
        if not stays_in_tree(self._root, loc.inbox):
            self._refuse_quietly(loc, "the inbox folder leaves the tree (symlink)")
            return
        claimed = loc.file(loc.inbox, Suffix.CLAIMED)
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return  # claimed already (a watcher event and a rescan raced): served once
        except OSError as exc:
            self._refuse_quietly(loc, f"cannot claim the request: {exc.strerror}")
            return
        self._serve(loc, resumed=False)

    def _serve(self, loc: Location, *, resumed: bool) -> None:
        claimed = loc.file(loc.inbox, Suffix.CLAIMED)
        raw: bytes | None = None
        self._audit_event("request.resumed" if resumed else "request.claimed", loc, sync=False)
        try:
            check_location(self._root, loc)
            if not stays_in_tree(self._root, loc.outbox):
                self._refuse_quietly(loc, "the outbox folder leaves the tree (symlink)")
                return
            if answered(loc):
                if resumed:  # answered before a crash, only the claim was left open
                    close_claim(loc)
                else:
                    self._duplicate(loc, claimed)
                return
            raw = read_request(claimed, self._config.max_request_bytes)
            body = decode_body(loc.kind, raw)
            provider, reason = self._decide(loc.kind, loc.name, loc)
        except RequestRefused as refusal:
            self._refuse(loc, raw, refusal)
            return
        self._token += 1
        model = body.get("model")
        self._pending[self._token] = _Pending(
            loc, raw, reason, model if isinstance(model, str) else self._specs[provider].model
        )
        self._claimed.add(str(claimed))
        request = ProviderRequest(loc.kind, loc.name, loc.uid, loc.raw_id, body, raw)
        self._hosts[provider].tell(Serve(self._token, request, self.ref))

    def _decide(self, kind: TargetKind, name: str, loc: Location | None) -> tuple[str, str]:
        """Route, then ask the policy; `(provider, route reason)` or `RequestRefused`."""
        if kind == "api" and name not in API_FORMATS:
            raise RequestRefused("unknown_format", f"{name!r} is not an API format")
        routed = self._config.routes.route(kind, name)
        if routed is None:
            raise RequestRefused("no_route", f"no provider is routed for {kind} {name!r}")
        provider, reason = routed
        decision = self._config.policy.decide(provider, kind, name)
        fields = {"provider": provider, "allowed": decision.allowed, "reason": decision.reason}
        if loc is not None:
            self._audit_event("policy.decision", loc, sync=False, **fields)
        else:
            self.audit.append(
                msgspec.convert(
                    {"event": "policy.decision", "kind": kind, "target": name, **fields}, AuditEvent
                )
            )
        if not decision.allowed:
            raise RequestRefused("denied", decision.reason)
        return provider, reason

    # -- answers --------------------------------------------------------------------------
    @handler
    def served(self, msg: Served) -> None:
        pending = self._pending.pop(msg.token, None)
        if pending is None:
            return
        loc, outcome = pending.loc, msg.outcome
        model = outcome.model if isinstance(outcome, Answer) and outcome.model else pending.model
        route = RouteRecord(provider=msg.provider, model=model, reason=pending.reason)
        if isinstance(outcome, Answer):
            write_response(loc, pending.raw, route, outcome.body)
            self._counts["served"] += 1
            self._audit_event("response.written", loc, provider=msg.provider)
        else:
            write_error(loc, pending.raw, route, outcome.kind, outcome.message)
            self._counts["errors"] += 1
            self._audit_event(
                "error.written",
                loc,
                provider=msg.provider,
                error=outcome.kind,
                reason=outcome.message,
            )
        close_claim(loc)
        self._claimed.discard(str(loc.file(loc.inbox, Suffix.CLAIMED)))

    def _refuse(self, loc: Location, raw: bytes | None, refusal: RequestRefused) -> None:
        self._counts["refused"] += 1
        try:
            loc.outbox.mkdir(exist_ok=True)
            write_error(loc, raw, None, refusal.kind, refusal.message)
        except OSError as exc:
            refusal = RequestRefused(refusal.kind, f"{refusal.message} (no error file: {exc})")
        self._audit_event("request.refused", loc, error=refusal.kind, reason=refusal.message)
        close_claim(loc)

    def _refuse_quietly(self, loc: Location, why: str) -> None:
        """Refuse without touching files: the folder itself is not to be trusted."""
        self._counts["refused"] += 1
        self._audit_event("request.refused", loc, error="path_escape", reason=why)

    def _duplicate(self, loc: Location, claimed: Path) -> None:
        self._counts["duplicates"] += 1
        os.replace(claimed, loc.file(loc.inbox, Suffix.DUPLICATE))
        self._audit_event(
            "request.duplicate",
            loc,
            reason="this id was already answered; the new request is kept as <id>.duplicate",
        )

    def _audit_event(
        self, event: str, loc: Location, *, sync: bool = True, **fields: object
    ) -> None:
        self.audit.append(
            msgspec.convert(
                {
                    "event": event,
                    "kind": loc.kind,
                    "target": loc.name,
                    "uid": loc.uid,
                    "id": loc.raw_id,
                    **fields,
                },
                AuditEvent,
            ),
            sync=sync,
        )

    @handler
    def stats(self, msg: Stats) -> SubstrateStats:
        mode = "fuse" if self._config.mount is not None else self._config.watch
        return SubstrateStats(
            served=self._counts["served"],
            errors=self._counts["errors"],
            refused=self._counts["refused"],
            duplicates=self._counts["duplicates"],
            in_flight=len(self._pending),
            watch_mode=mode,
        )


def _fuse_backend(mount: Path) -> type[FuseBackend]:
    """The FUSE backend actor class, imported now that a mount of `mount` is requested."""
    # Deferred on purpose, not a layering workaround: `_fuse` imports `mfusepy`, which loads
    # libfuse, an optional native library, at import (OSError where it is not installed).
    # At module level it would make `ctx_substrate`, and with it `lightflow serve`, the CLI
    # and the tests, unusable without libfuse, though only a FUSE mount needs it.
    try:
        from ._fuse import FuseBackend
    except (OSError, ImportError) as exc:
        raise FuseUnavailable(f"cannot mount {mount}: {libfuse_missing(exc)}") from exc
    return FuseBackend


def _is_job_file(path: str) -> bool:
    parts = Path(path).parts
    return len(parts) >= 3 and parts[-3] == "job" and parts[-1] == "req"


def _is_hook_file(path: str) -> bool:
    parts = Path(path).parts
    return len(parts) >= 3 and parts[-3] == "hook" and parts[-1] == "trigger"


def _interesting(path: str) -> bool:
    return path.endswith(Suffix.REQUEST) or _is_job_file(path) or _is_hook_file(path)
