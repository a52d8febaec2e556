"""`Substrate`: the actor that serves a CortexFS tree.

Committed request → claim (rename to `<id>.claimed`) → checks (position, id, symlinks,
size, body) → route → policy → the provider's host → answer files → `<id>.done`. Every
step that decides something is appended to the audit log. The claim-by-rename makes
serving idempotent: a watcher event and a rescan racing for the same file cannot both
win, and on restart `.claimed` files without answer are served again, those with an answer
only closed. See specs/cortexfs-abi.md §Serving for the state machine.

Nothing a file holds crashes the substrate (which would crash it again at every restart,
on the same file): a request refused for what it is gets its `<id>.error` and is moved to
the dead-letter folder (`_dead.py`); an unexpected exception while serving one request is
logged and quarantined the same way (`internal`). A file system error while reading a
request or writing its answer (disk full, out of descriptors) leaves the request claimed
and the periodic rescan retries it; only a client-visible answer closes it.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

from lightflow_actors.cortex import (
    API_FORMATS,
    AnswerWritten,
    CtxLayout,
    ErrorRecord,
    Exchange,
    Exchanged,
    Handoff,
    RouteRecord,
    Suffix,
    TargetKind,
    atomic_write,
    fingerprint,
    is_segment_id,
    is_short_id,
)
from lightflow_actors.kernel import Actor, ActorRef, AnyRef, Ask, Down, StartFailed, handler
from lightflow_actors.tenants import DEFAULT_TENANT, TenantIdError, TenantLedger, check_tenant

from ._answers import (
    answer_files,
    answered,
    close_claim,
    error_record,
    write_error,
    write_response,
)
from ._audit import AuditEvent, AuditLog
from ._config import SubstrateConfig
from ._dead import QUARANTINED, quarantine
from ._errors import ConfigError, RequestRefused
from ._fuse_probe import FuseUnavailable, libfuse_missing
from ._intake import (
    Location,
    check_location,
    decode_body,
    locate,
    read_request,
    read_tenant,
    stays_in_tree,
)
from ._jobs import Dispatch, HookRunner, JobRunner, read_status
from ._lanes import IoLanes, JobCrashed
from ._scan import inboxes, subdirs, waiting_files
from ._tree import ensure_tree
from ._watcher import Committed, DirectoryWatcher, Rescan, WrittenInPlace
from .providers import (
    Answer,
    Failure,
    ProviderHost,
    ProviderRequest,
    ProviderSpec,
    Serve,
    Served,
    idempotency_key,
)

if TYPE_CHECKING:
    from ._fuse import FuseBackend  # imported for real by `_fuse_backend` (libfuse)

__all__ = ["Stats", "Substrate", "SubstrateMessage", "SubstrateStats"]

logger = logging.getLogger("ctx_substrate")

# Errors of the moment, not of the request: the request stays claimed and is retried.
_TRANSIENT = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
        errno.ENOBUFS,
        errno.EAGAIN,
        errno.EINTR,
        errno.EIO,
    }
)

FoundAs = Literal["committed", "claimed", "written"]

_HANDED_KEPT = 4096


class SubstrateStats(msgspec.Struct, frozen=True):
    served: int
    errors: int
    refused: int
    duplicates: int
    in_flight: int
    watch_mode: str
    quarantined: int = 0  # requests moved to a dead-letter folder
    retrying: int = 0  # requests whose read or answer failed on an I/O error, retried later
    handed_off: int = 0  # requests claimed on a hand-off from this process (ADR 0100)
    relaxed: int = 0  # answers written with the hand-off's fewer fsyncs (ADR 0100)
    journaled: int = 0  # exchanges served in memory, their files left to the committer
    # File jobs (claims, reads, answers, audit lines; ADR 0119) queued, running, or whose
    # outcome is not handled yet: 0 with `in_flight` 0 means every file is where it goes.
    io_unsettled: int = 0
    io_jobs: int = 0  # file jobs handed to the lanes' threads so far
    io_batches: int = 0  # thread hand-offs they took


class Stats(Ask[SubstrateStats], frozen=True):
    """Counters of this substrate incarnation (tests, bench, operators)."""


SubstrateMessage = (
    Committed | WrittenInPlace | Handoff | Exchange | Rescan | Served | Stats | Dispatch
)


class _Pending(msgspec.Struct):
    loc: Location
    raw: bytes
    reason: str
    model: str
    key: str  # the request's idempotency key
    resumed: bool  # served again after a restart found it in flight
    relaxed: bool = False  # handed off with the shortcut's fewer fsyncs (ADR 0100)
    # A journaled exchange (ADR 0122): served from memory, answered to this actor with
    # the files to write; its audit lines, written when it is answered.
    exchanged: ActorRef[Exchanged] | None = None
    audit: tuple[AuditEvent, ...] = ()


class _Unwritten(msgspec.Struct):
    """A provider's outcome whose answer could not be written; retried at each rescan."""

    loc: Location
    raw: bytes
    route: RouteRecord
    outcome: Answer | Failure
    provider: str
    relaxed: bool = False


class _IoDone(msgspec.Struct, frozen=True):
    """A lane's batch is done: its outcomes, in order (see `Substrate.io_done`)."""

    outcomes: tuple[object, ...]
    jobs: int  # how many jobs the batch ran (their outcomes may be fewer)


class _AuditLine(msgspec.Struct, frozen=True):
    """A provider host's audit line (a restart, a crash, giving up), for the lanes."""

    event: AuditEvent


class Substrate(Actor[SubstrateMessage | Down | _IoDone | _AuditLine]):
    """Serves `config.root` with `providers`; see the module docstring for the cycle.

    ::

        config = SubstrateConfig(root="/srv/ctx", uids=("1000",), routes=Routes(api={"*": "echo"}))
        substrate = await system.start_actor(
            lambda: Substrate(config, [callable_provider("echo", lambda r: r.body)])
        )
    """

    def __init__(
        self,
        config: SubstrateConfig,
        providers: Sequence[ProviderSpec],
        *,
        tenants: TenantLedger | None = None,
    ) -> None:
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
        self._tenants = tenants  # provider-call budgets and weights (ADR 0104)
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
        self._unwritten: dict[str, _Unwritten] = {}  # claim path -> answer to write again
        self._retrying: set[str] = set()  # claim or request paths with an I/O failure audited
        self._ignored: set[str] = set()  # files refused without touching them (see below)
        # The in-process shortcut (ADR 0100), by claim path: who to tell when the answer
        # is written, and which requests were handed off relaxed.
        self._notify: dict[str, ActorRef[AnswerWritten]] = {}
        # Request paths handed off whose watch event has not come yet (oldest first).
        self._handed: dict[str, None] = {}
        self._relaxed: set[str] = set()
        # Inbox and outbox pairs found to stay in the tree (journaled exchanges, ADR 0122).
        self._trusted: set[tuple[Path, Path]] = set()
        self._lanes: IoLanes | None = None  # file I/O off the loop (ADR 0119), from on_start
        # The tenant of each request read and not settled yet, by claim path: its answer
        # lane's jobs wait among that tenant's (ADR 0128).
        self._tenant_of: dict[str, str] = {}
        self._counts = {
            "served": 0,
            "errors": 0,
            "refused": 0,
            "duplicates": 0,
            "quarantined": 0,
            "handed_off": 0,
            "relaxed": 0,
            "journaled": 0,
        }

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
        ref = self.ref

        def deliver(outcomes: tuple[object, ...], jobs: int) -> None:
            ref.tell(_IoDone(outcomes, jobs))

        self._lanes = IoLanes(self.run_blocking, deliver, self.system.loop)
        for name, spec in self._specs.items():
            limits = cfg.routes.limits_of(name)
            self._hosts[name] = self.spawn(
                lambda spec=spec, limits=limits: ProviderHost(  # type: ignore[misc]
                    spec,
                    self.audit,
                    max_restarts=cfg.max_restarts,
                    period_s=cfg.restart_period_s,
                    shutdown_s=cfg.provider_shutdown_s,
                    route_limits=limits,
                    tenants=self._tenants,
                    record=lambda event: ref.tell(_AuditLine(event)),
                ),
                link=True,
            )
        try:
            self._publish_routes()
        except OSError as exc:  # informational files: serving goes on without them
            logger.warning("cannot publish the route tables in %s: %s", self._root, exc)
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
        # for requests dropped into the backing folder directly, unless clients commit
        # there (`direct_writers`): then it watches as the directory backend does (a commit
        # seen twice is claimed once: the claim is a rename).
        fuse = cfg.mount is not None and not cfg.direct_writers
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
            _publish(self._root / "route" / f"{kind}.json", msgspec.json.encode(table))
        for name, spec in self._specs.items():
            if is_segment_id(name):
                record = {"provider": name, "model": spec.model}
                _publish(self._root / "model" / f"{name}.json", msgspec.json.encode(record))

    def on_stop(self, reason: object) -> None:
        if self._lanes is not None:
            # A batch on its thread stops before its next job; `close` below waits for the
            # line it may be appending. What is left undone the next rescan finds again.
            self._lanes.close()
        if self._audit is not None:
            self._audit.append(AuditEvent("substrate.stopped", reason=str(reason)))
            self._audit.close()

    @property
    def audit(self) -> AuditLog:
        assert self._audit is not None, "the audit log opens in on_start"
        return self._audit

    @property
    def _lanes_(self) -> IoLanes:
        assert self._lanes is not None, "the lanes start in on_start"
        return self._lanes

    # -- intake ---------------------------------------------------------------------------
    @handler
    def committed(self, msg: Committed) -> None:
        if msg.path in self._handed:
            # The watch seeing a request handed off already: claimed (or being claimed)
            # by its hand-off; a claim job would only lose the rename. Once: a later
            # commit of the same name is a new file, claimed as usual.
            del self._handed[msg.path]
            return
        path = Path(msg.path)
        loc = locate(self._root, path)
        if loc is not None:
            self._claim(loc, path)
        elif _is_job_file(msg.path) or _is_hook_file(msg.path):
            self._folder_runner(path.parent)

    @handler
    def written_in_place(self, msg: WrittenInPlace) -> None:
        """A `.req.json` created in place: claimed (so it is read once) and refused."""
        path = Path(msg.path)
        loc = locate(self._root, path)
        if loc is not None:
            self._claim(loc, path, found_as="written")

    @handler
    def handoff(self, msg: Handoff) -> None:
        """A request committed in this process (ADR 0100): claim it now, not when the
        watch notices, and tell `msg.notify` when its answer is written."""
        path = Path(msg.path)
        loc = locate(self._root, path)
        if loc is None:
            return  # not an inbox request: the watcher and the rescan decide as usual
        key = str(loc.file(loc.inbox, Suffix.CLAIMED))
        self._notify[key] = msg.notify
        self._handed[msg.path] = None
        if len(self._handed) > _HANDED_KEPT:  # its watch event was lost: forget it
            del self._handed[next(iter(self._handed))]
        # Being served already (a watcher event or a rescan took it first): told when its
        # answer is written, and served with every fsync (its commit was relaxed, its
        # answer need not be). Else claimed now, relaxed as the client asked.
        self._claim(loc, path, relaxed=msg.relaxed, handed_off=True)

    @handler
    def exchange(self, msg: Exchange) -> None:
        """Serve a request from memory (the journaled exchange, ADR 0122): the checks,
        route, policy, tenant queues and provider of a committed file, without the file.
        The answer and the ABI files go back to `msg.notify` (`Exchanged`), which writes
        them; the audit lines are appended, unsynced, when it is answered. Anything the
        file path would refuse, quarantine or set aside is sent back (`fallback`) to be
        committed as a file, which is then refused the usual way."""
        loc = locate(self._root, Path(msg.path))
        if loc is None:
            msg.notify.tell(Exchanged("", "", fallback=True))
            return
        key = str(loc.file(loc.inbox, Suffix.CLAIMED))
        audit: list[AuditEvent] = [_audit_record("request.claimed", loc)]
        try:
            check_location(self._root, loc)
            if key in self._claimed or len(msg.raw) > self._config.max_request_bytes:
                raise RequestRefused("too_large", "served as a file")
            if not self._folders_in_tree(loc):
                raise RequestRefused("path_escape", "served as a file")
            tenant = DEFAULT_TENANT if msg.tenant is None else check_tenant(msg.tenant, "tenant")
            body = decode_body(loc.kind, msg.raw)
            provider, reason = self._decide(loc.kind, loc.name, loc, audit)
        except (RequestRefused, TenantIdError):
            msg.notify.tell(Exchanged(str(loc.outbox), loc.raw_id, fallback=True))
            return
        self._token += 1
        model = body.get("model")
        named = model if isinstance(model, str) else self._specs[provider].model
        idem = idempotency_key(loc.kind, loc.name, loc.uid, loc.raw_id, msg.raw)
        self._pending[self._token] = _Pending(
            loc, msg.raw, reason, named, idem, msg.resuming, True, msg.notify, tuple(audit)
        )
        request = ProviderRequest(
            loc.kind, loc.name, loc.uid, loc.raw_id, body, msg.raw, idem, tenant
        )
        self._hosts[provider].tell(self._serve_message(request, self.ref))

    def _folders_in_tree(self, loc: Location) -> bool:
        """The request's inbox and outbox stay in the tree (no symlink out of it):
        checked once per incarnation (the tree is this process's own, made by
        `ensure_tree`; each check resolves every folder of the path)."""
        key = (loc.inbox, loc.outbox)
        if key in self._trusted:
            return True
        if stays_in_tree(self._root, loc.inbox) and stays_in_tree(self._root, loc.outbox):
            self._trusted.add(key)
            return True
        return False

    def _exchanged(
        self, pending: _Pending, route: RouteRecord, outcome: Answer | Failure, provider: str
    ) -> None:
        """Answer a journaled exchange with its outcome and files; audit it, unsynced."""
        loc = pending.loc
        assert pending.exchanged is not None
        answer: bytes | ErrorRecord
        if isinstance(outcome, Answer):
            answer = outcome.body
            written = _audit_record("response.written", loc, provider=provider)
            self._counts["served"] += 1
        else:
            answer = error_record(loc, outcome.kind, outcome.message)
            written = _audit_record(
                "error.written", loc, provider=provider, error=outcome.kind,
                reason=outcome.message,
            )  # fmt: skip
            self._counts["errors"] += 1
        self._counts["journaled"] += 1
        files = answer_files(loc, pending.raw, route, answer)
        pending.exchanged.tell(
            Exchanged(
                str(loc.outbox),
                loc.raw_id,
                response=answer if isinstance(answer, bytes) else None,
                error=answer if isinstance(answer, ErrorRecord) else None,
                route=route if loc.kind != "thread" else None,
                fingerprint=fingerprint(pending.raw),
                files=files,
            )
        )
        records = (*pending.audit, written)
        self._lanes_.submit(functools.partial(_append_all, self.audit, records))

    def _settle_notify(self, key: str, answered: bool) -> None:
        """The request of `key` is no longer served here: tell its hand-off's client if it
        is answered (else the client's watch decides), and forget it."""
        self._tenant_of.pop(key, None)
        notify = self._notify.pop(key, None)
        if notify is not None and answered:
            loc = locate(self._root, Path(key), Suffix.CLAIMED)
            if loc is not None:
                notify.tell(AnswerWritten(str(loc.outbox), loc.raw_id))

    @handler
    def rescan(self, msg: Rescan) -> None:
        for key in list(self._unwritten):
            self._write_again(key)
        # The listing on a lane too; audit lines of relaxed exchanges made durable first.
        self._lanes_.submit(functools.partial(_scan_tree, self._root, self.audit))

    def _scanned(self, found: _Scanned) -> None:
        for name in found.requests:
            if name in self._ignored:
                continue
            path = Path(name)
            loc = locate(self._root, path)
            if loc is not None:
                self._claim(loc, path)
        for name in found.claims:
            if name in self._claimed or name in self._ignored:
                continue
            loc = locate(self._root, Path(name), Suffix.CLAIMED)
            if loc is not None:
                self._claim(loc, Path(name), resumed=True)
        for folder in found.folders:
            self._folder_runner(Path(folder))

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
        self._hosts[provider].tell(self._serve_message(request, msg.reply_to))

    def _claim(
        self,
        loc: Location,
        path: Path,
        *,
        found_as: FoundAs = "committed",
        resumed: bool = False,
        relaxed: bool = False,
        handed_off: bool = False,
    ) -> None:
        """Claim (unless `resumed`: claimed before a restart), read and check a request on
        its lane; `_taken` (or a refusal) follows. A request being served is not taken
        twice: its claim path stays in `_claimed` from here until it is answered."""
        key = str(loc.file(loc.inbox, Suffix.CLAIMED))
        if key in self._claimed:
            return
        self._claimed.add(key)
        self._lanes_.submit(
            functools.partial(
                _take,
                _Intake(
                    self._root,
                    loc,
                    str(path),
                    "claimed" if resumed else found_as,
                    resumed,
                    relaxed,
                    handed_off,
                    self._config.max_request_bytes,
                ),
                self.audit,
            )
        )

    @handler
    def audit_line(self, msg: _AuditLine) -> None:
        """A provider host's audit line, appended on the intake lane (in order, off the loop)."""
        self._lanes_.submit(functools.partial(_append, self.audit, msg.event, True))

    @handler
    def io_done(self, msg: _IoDone) -> None:
        """The outcomes of a lane's batch, in the order its jobs ran."""
        self._lanes_.settled(msg.jobs)
        for outcome in msg.outcomes:
            if isinstance(outcome, _Taken):
                self._taken(outcome)
            elif isinstance(outcome, _Wrote):
                self._wrote(outcome)
            elif isinstance(outcome, _NotTaken):
                self._counts["duplicates"] += outcome.duplicate
                self._claimed.discard(outcome.key)
                self._settle_notify(outcome.key, outcome.answered)
            elif isinstance(outcome, _Refusal):
                self._counts["handed_off"] += outcome.handed_off
                self._refuse(outcome.loc, outcome.raw, outcome.refusal, outcome.found_as)
            elif isinstance(outcome, _Refused):
                self._refused(outcome)
            elif isinstance(outcome, _Quiet):
                self._claimed.discard(outcome.key)
                self._settle_notify(outcome.key, False)
                self._refuse_quietly(outcome.loc, Path(outcome.path), outcome.why)
            elif isinstance(outcome, _Retry):
                self._claimed.discard(outcome.key)
                self._settle_notify(outcome.key, False)
                self._retry(outcome.loc, outcome.path, outcome.problem)
            elif isinstance(outcome, _Scanned):
                self._scanned(outcome)
            elif isinstance(outcome, _Gone):
                self._claimed.discard(outcome.key)
                self._retrying.discard(outcome.key)
                self._notify.pop(outcome.key, None)
                self._tenant_of.pop(outcome.key, None)
            elif isinstance(outcome, JobCrashed):
                raise outcome.error

    def _taken(self, taken: _Taken) -> None:
        loc, key = taken.loc, taken.key
        self._tenant_of[key] = taken.tenant
        if taken.handed_off:
            self._counts["handed_off"] += 1
        self._retrying.discard(taken.claimed_from)
        try:
            provider, reason = self._decide(loc.kind, loc.name, loc)
        except RequestRefused as refusal:
            self._refuse(loc, taken.raw, refusal, taken.found_as)
            return
        except Exception as exc:  # a bug on this input: quarantine it, do not crash on it
            logger.exception("routing %s failed; the request is quarantined", key)
            self._refuse(loc, taken.raw, _internal(exc), taken.found_as)
            return
        self._retrying.discard(key)
        self._token += 1
        model = taken.body.get("model")
        named = model if isinstance(model, str) else self._specs[provider].model
        raw = taken.raw
        idem = idempotency_key(loc.kind, loc.name, loc.uid, loc.raw_id, raw)
        self._pending[self._token] = _Pending(
            loc, raw, reason, named, idem, taken.resumed, taken.relaxed
        )
        if taken.once:
            # At most once: the provider may have done it before the restart; never again.
            cut = Failure(
                "interrupted",
                "the request was in flight when the server stopped and is at most once, so it "
                "was not sent again (the provider may or may not have done it); retry the step "
                "if it should be done again (run retry)",
            )
            self.ref.tell(Served(self._token, provider, cut))
            return
        request = ProviderRequest(
            loc.kind, loc.name, loc.uid, loc.raw_id, taken.body, raw, idem, taken.tenant
        )
        self._hosts[provider].tell(self._serve_message(request, self.ref))

    def _serve_message(self, request: ProviderRequest, reply_to: ActorRef[Served]) -> Serve:
        """`Serve` for the provider's host, with its route's limit when it has one."""
        lane = self._config.routes.limit(request.kind, request.target)
        if lane is None:
            return Serve(self._token, request, reply_to)
        return Serve(self._token, request, reply_to, lane=lane[0], lane_limit=lane[1])

    def _decide(
        self,
        kind: TargetKind,
        name: str,
        loc: Location | None,
        later: list[AuditEvent] | None = None,
    ) -> tuple[str, str]:
        """Route, then ask the policy; `(provider, route reason)` or `RequestRefused`.
        With `later`, the policy's audit line is added to it instead of appended now."""
        if kind == "api" and name not in API_FORMATS:
            raise RequestRefused("unknown_format", f"{name!r} is not an API format")
        routed = self._config.routes.route(kind, name)
        if routed is None:
            raise RequestRefused("no_route", f"no provider is routed for {kind} {name!r}")
        provider, reason = routed
        decision = self._config.policy.decide(provider, kind, name)
        fields = {"provider": provider, "allowed": decision.allowed, "reason": decision.reason}
        if loc is not None and later is not None:
            later.append(_audit_record("policy.decision", loc, **fields))
        elif loc is not None:
            self._audit_event("policy.decision", loc, sync=False, **fields)
        else:
            record = msgspec.convert(
                {"event": "policy.decision", "kind": kind, "target": name, **fields}, AuditEvent
            )
            self._lanes_.submit(functools.partial(_append, self.audit, record, True))
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
        route = RouteRecord(
            provider=msg.provider,
            model=model,
            reason=pending.reason,
            idempotency_key=pending.key,
            resumed=True if pending.resumed else msgspec.UNSET,
        )
        if pending.exchanged is not None:
            self._exchanged(pending, route, outcome, msg.provider)
            return
        self._write_outcome(
            _Unwritten(loc, pending.raw, route, outcome, msg.provider, pending.relaxed)
        )

    def _write_outcome(self, answer: _Unwritten, *, again: bool = False) -> None:
        """Write a provider's answer on the request's lane; `_wrote` follows."""
        key = str(answer.loc.file(answer.loc.inbox, Suffix.CLAIMED))
        self._lanes_.submit(
            functools.partial(_write_files, answer, self.audit, again),
            key,
            self._tenant_of.get(key),
        )

    def _wrote(self, wrote: _Wrote) -> None:
        """An answer written, or not: on an I/O error, an `io_error` answer if that can be
        written, else it is kept for the next rescan."""
        answer = wrote.answer
        loc, outcome, relaxed = answer.loc, answer.outcome, answer.relaxed
        key = str(loc.file(loc.inbox, Suffix.CLAIMED))
        exc = wrote.error
        if exc is not None:
            problem = f"cannot write the answer ({_errno_name(exc)}: {exc.strerror})"
            if isinstance(outcome, Answer) and exc.errno not in _TRANSIENT:
                # The response cannot be written here (EACCES, ...): say so in its place.
                failure = Failure("io_error", problem)
                self._write_outcome(msgspec.structs.replace(answer, outcome=failure))
                return
            self._unwritten[key] = answer
            self._retry(loc, key, problem)
            return
        self._counts["served" if isinstance(outcome, Answer) else "errors"] += 1
        self._counts["relaxed"] += relaxed
        self._unwritten.pop(key, None)
        self._retrying.discard(key)
        self._claimed.discard(key)
        self._settle_notify(key, True)

    def _write_again(self, key: str) -> None:
        answer = self._unwritten.pop(key)
        self._write_outcome(answer, again=True)

    def _retry(self, loc: Location, key: str, problem: str) -> None:
        """Leave the request where it is for the next rescan; audit the first failure only."""
        if key in self._retrying:
            return
        self._retrying.add(key)
        logger.warning("%s: %s; retried at the next rescan", key, problem)
        self._audit_event("request.retry", loc, error="io_error", reason=problem)

    def _refuse(
        self, loc: Location, raw: bytes | None, refusal: RequestRefused, found_as: FoundAs
    ) -> None:
        """Answer a refused request with its error (and set it aside when it is to be
        quarantined), on its lane; `_refused` follows."""
        key = str(loc.file(loc.inbox, Suffix.CLAIMED))
        ts_ms = self.system.clock.wall_ms()
        self._lanes_.submit(
            functools.partial(_refuse_files, loc, raw, refusal, found_as, ts_ms, self.audit),
            key,
            self._tenant_of.get(key),
        )

    def _refused(self, refused: _Refused) -> None:
        key = refused.key
        self._claimed.discard(key)
        if refused.retry is not None:  # no answer yet: kept claimed, retried later
            self._settle_notify(key, False)
            self._retry(refused.loc, key, refused.retry)
            return
        self._counts["refused"] += 1
        self._counts["quarantined"] += refused.quarantined
        self._retrying.discard(key)
        self._settle_notify(key, refused.answered)

    def _refuse_quietly(self, loc: Location, path: Path, why: str) -> None:
        """Refuse without touching files: the folder itself is not to be trusted. Audited
        once per incarnation: later rescans pass the file by (it is left where it is)."""
        self._ignored.add(str(path))
        self._counts["refused"] += 1
        self._audit_event("request.refused", loc, error="path_escape", reason=why)

    def _audit_event(
        self, event: str, loc: Location, *, sync: bool = True, **fields: object
    ) -> None:
        """Appended on the request's lane, after its file work queued before."""
        record = _audit_record(event, loc, **fields)
        key = str(loc.file(loc.inbox, Suffix.CLAIMED))
        self._lanes_.submit(
            functools.partial(_append, self.audit, record, sync), key, self._tenant_of.get(key)
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
            quarantined=self._counts["quarantined"],
            retrying=len(self._retrying),
            handed_off=self._counts["handed_off"],
            relaxed=self._counts["relaxed"],
            journaled=self._counts["journaled"],
            io_unsettled=self._lanes_.unsettled,
            io_jobs=self._lanes_.jobs,
            io_batches=self._lanes_.batches,
        )


# -- file jobs, run on a lane's worker thread (ADR 0119) -----------------------------------
# Each returns what the actor must know; none raises on what a file holds or an I/O error.


class _Intake(msgspec.Struct, frozen=True):
    """What `_take` needs to claim and read one request."""

    root: Path
    loc: Location
    path: str  # the committed `.req.json`, or the `.claimed` found by a rescan
    found_as: FoundAs
    resumed: bool
    relaxed: bool
    handed_off: bool
    limit: int


class _Taken(msgspec.Struct, frozen=True):
    """Claimed, read and decoded: to be routed and served."""

    key: str
    loc: Location
    raw: bytes
    body: dict[str, object]
    found_as: FoundAs
    resumed: bool
    relaxed: bool
    handed_off: bool
    claimed_from: str
    tenant: str
    once: bool  # resumed with its at-most-once marker: never sent again


class _NotTaken(msgspec.Struct, frozen=True):
    """Not served by this claim: claimed already, or answered (closed, or a duplicate)."""

    key: str
    answered: bool
    duplicate: bool = False


class _Refusal(msgspec.Struct, frozen=True):
    """Refused for what it is: its error to write (`Substrate._refuse`)."""

    loc: Location
    raw: bytes | None
    refusal: RequestRefused
    found_as: FoundAs
    handed_off: bool = False  # claimed on a hand-off (counted as one, as a served one)


class _Refused(msgspec.Struct, frozen=True):
    """A refusal's error written (`answered`), or not (`retry`: a transient error)."""

    key: str
    loc: Location
    answered: bool
    quarantined: bool
    retry: str | None = None


class _Quiet(msgspec.Struct, frozen=True):
    """Refused without touching files (the folder is not to be trusted)."""

    key: str
    loc: Location
    path: str
    why: str


class _Retry(msgspec.Struct, frozen=True):
    """A transient I/O error: left where it is for the next rescan."""

    key: str
    loc: Location
    path: str
    problem: str


class _Wrote(msgspec.Struct, frozen=True):
    """An answer written and its claim closed (`error` None), or the write's error."""

    answer: _Unwritten
    error: OSError | None


class _Gone(msgspec.Struct, frozen=True):
    """An answer to write again whose claim was removed meanwhile: nothing to answer."""

    key: str


class _Scanned(msgspec.Struct, frozen=True):
    """A rescan's finds: committed requests, claims, job and hook folders."""

    requests: tuple[str, ...]
    claims: tuple[str, ...]
    folders: tuple[str, ...]


def _audit_record(event: str, loc: Location, **fields: object) -> AuditEvent:
    return msgspec.convert(
        {
            "event": event,
            "kind": loc.kind,
            "target": loc.name,
            "uid": loc.uid,
            "id": loc.raw_id,
            **fields,
        },
        AuditEvent,
    )


def _append(audit: AuditLog, record: AuditEvent, sync: bool) -> None:
    audit.append(record, sync=sync)


def _append_all(audit: AuditLog, records: tuple[AuditEvent, ...]) -> None:
    """A journaled exchange's audit lines, unsynced (made durable by the next synced
    line or rescan, as a relaxed exchange's are)."""
    for record in records:
        audit.append(record, sync=False)


def _take(intake: _Intake, audit: AuditLog) -> object:
    """Claim (rename to `.claimed`) unless resumed, then check and read the request."""
    root, loc, found_as, resumed = intake.root, intake.loc, intake.found_as, intake.resumed
    path = Path(intake.path)
    claimed = loc.file(loc.inbox, Suffix.CLAIMED)
    key = str(claimed)
    if resumed:
        if not os.path.lexists(claimed):  # answered and closed since the rescan listed it
            return _NotTaken(key, answered(loc))
    else:
        if not stays_in_tree(root, loc.inbox):
            return _Quiet(key, loc, intake.path, "the inbox folder leaves the tree (symlink)")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:  # claimed already (a watcher event and a rescan raced)
            return _NotTaken(key, answered(loc))
        except OSError as exc:
            why = f"cannot claim the request: {exc.strerror}"
            if exc.errno in _TRANSIENT:
                return _Retry(key, loc, intake.path, why)
            return _Quiet(key, loc, intake.path, why)
    audit.append(
        _audit_record("request.resumed" if resumed else "request.claimed", loc), sync=False
    )
    raw: bytes | None = None
    try:
        check_location(root, loc)
        # The inbox again: a claim found by a rescan did not pass through the rename above.
        for folder in (loc.inbox, loc.outbox):
            if not stays_in_tree(root, folder):
                return _Quiet(key, loc, key, f"{folder} leaves the tree (symlink)")
        if answered(loc):
            if resumed:  # answered before a crash, only the claim was left open
                _close(loc)
                return _NotTaken(key, True)
            _duplicate(loc, claimed, audit)
            return _NotTaken(key, True, duplicate=True)
        raw = read_request(claimed, intake.limit)
        if found_as == "written":
            raise RequestRefused(
                "not_renamed",
                "the request was written in place under its final name, so it may have "
                "been read half written; commit by writing <id>.tmp, then renaming it "
                "to <id>.req.json",
            )
        body = decode_body(loc.kind, raw)
        once = resumed and os.path.lexists(loc.file(loc.inbox, Suffix.ONCE))
    except RequestRefused as refusal:
        return _Refusal(loc, raw, refusal, found_as, intake.handed_off)
    except OSError as exc:
        if exc.errno in _TRANSIENT:
            return _Retry(key, loc, key, f"cannot read the request: {exc.strerror}")
        unreadable = RequestRefused(
            "io_error", f"cannot read the request ({_errno_name(exc)}: {exc.strerror})"
        )
        return _Refusal(loc, raw, unreadable, found_as, intake.handed_off)
    except Exception as exc:  # a bug on this input: quarantine it, do not crash-loop on it
        logger.exception("serving %s failed; the request is quarantined", claimed)
        return _Refusal(loc, raw, _internal(exc), found_as, intake.handed_off)
    claimed_from = "" if resumed else intake.path
    return _Taken(
        key,
        loc,
        raw,
        body,
        found_as,
        resumed,
        intake.relaxed,
        intake.handed_off,
        claimed_from,
        read_tenant(loc),
        once,
    )


def _internal(exc: Exception) -> RequestRefused:
    return RequestRefused(
        "internal",
        f"the substrate failed on this request ({type(exc).__name__}: {exc}); it was "
        "moved to the dead letters, please report it",
    )


def _duplicate(loc: Location, claimed: Path, audit: AuditLog) -> None:
    try:
        os.replace(claimed, loc.file(loc.inbox, Suffix.DUPLICATE))
    except OSError as exc:  # left claimed: the next rescan finds it answered and closes it
        logger.warning("cannot set aside the duplicate %s: %s", claimed, exc)
        return
    audit.append(
        _audit_record(
            "request.duplicate",
            loc,
            reason="this id was already answered; the new request is kept as <id>.duplicate",
        )
    )


def _close(loc: Location) -> None:
    try:
        close_claim(loc)
    except OSError as exc:  # the rescan finds it claimed and answered, and closes it then
        logger.warning("cannot close the claim of %r: %s", loc.raw_id, exc)


def _write_files(answer: _Unwritten, audit: AuditLog, again: bool) -> object:
    """Fingerprint, route, response or error, its audit line, then the claim closed."""
    loc, outcome, provider, relaxed = answer.loc, answer.outcome, answer.provider, answer.relaxed
    claimed = loc.file(loc.inbox, Suffix.CLAIMED)
    if again and not os.path.lexists(claimed):  # the claim was removed by hand
        return _Gone(str(claimed))
    try:
        if isinstance(outcome, Answer):
            write_response(loc, answer.raw, answer.route, outcome.body, relaxed=relaxed)
            record = _audit_record("response.written", loc, provider=provider)
        else:
            write_error(
                loc, answer.raw, answer.route, outcome.kind, outcome.message, relaxed=relaxed
            )
            record = _audit_record(
                "error.written",
                loc,
                provider=provider,
                error=outcome.kind,
                reason=outcome.message,
            )
    except OSError as exc:
        return _Wrote(answer, exc)
    audit.append(record, sync=not relaxed)
    _close(loc)
    return _Wrote(answer, None)


def _refuse_files(
    loc: Location,
    raw: bytes | None,
    refusal: RequestRefused,
    found_as: FoundAs,
    ts_ms: int,
    audit: AuditLog,
) -> _Refused:
    """A refused request's `<id>.error`, its audit line, then closed or quarantined."""
    claimed = loc.file(loc.inbox, Suffix.CLAIMED)
    key = str(claimed)
    answered_now = True
    try:
        loc.outbox.mkdir(exist_ok=True)
        write_error(loc, raw, None, refusal.kind, refusal.message)
    except OSError as exc:
        if exc.errno in _TRANSIENT:  # no answer yet: keep it claimed, retry later
            return _Refused(
                key, loc, False, False, retry=f"cannot write the error file: {exc.strerror}"
            )
        refusal = RequestRefused(refusal.kind, f"{refusal.message} (no error file: {exc})")
        answered_now = False
    audit.append(_audit_record("request.refused", loc, error=refusal.kind, reason=refusal.message))
    if refusal.kind not in QUARANTINED:
        _close(loc)
        return _Refused(key, loc, answered_now, False)
    try:
        letter = quarantine(
            loc,
            claimed,
            error=refusal.kind,
            message=refusal.message,
            ts_ms=ts_ms,
            found_as=found_as,
            raw=raw,
        )
    except OSError as exc:  # closed instead: never served again, only not set aside
        logger.warning("cannot quarantine %s (%s); closing it", claimed, exc)
        _close(loc)
        return _Refused(key, loc, answered_now, False)
    audit.append(
        _audit_record(
            "request.quarantined", loc, error=refusal.kind, reason=letter.file or "removed"
        )
    )
    return _Refused(key, loc, answered_now, True)


def _scan_tree(root: Path, audit: AuditLog) -> _Scanned:
    """Audit lines of relaxed exchanges made durable, then every waiting request, claim,
    and job or hook folder (`Substrate.rescan`)."""
    audit.sync()
    requests: list[str] = []
    claims: list[str] = []
    for inbox in inboxes(root):
        for path in waiting_files(inbox, (Suffix.REQUEST, Suffix.CLAIMED)):
            (requests if path.name.endswith(Suffix.REQUEST) else claims).append(str(path))
    folders = [
        str(folder)
        for home in subdirs(root / "home")
        for area in ("job", "hook")
        for folder in subdirs(home / area)
    ]
    return _Scanned(tuple(requests), tuple(claims), tuple(folders))


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


def _publish(path: Path, data: bytes) -> None:
    """Write an informational file durably, unless it already holds `data` (a CLI process
    starts a substrate at every command: an unchanged route table costs no fsync)."""
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass  # missing or unreadable: written
    atomic_write(path, data)


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "OSError")


def _is_job_file(path: str) -> bool:
    parts = Path(path).parts
    return len(parts) >= 3 and parts[-3] == "job" and parts[-1] == "req"


def _is_hook_file(path: str) -> bool:
    parts = Path(path).parts
    return len(parts) >= 3 and parts[-3] == "hook" and parts[-1] == "trigger"


def _interesting(path: str) -> bool:
    # Called for every inotify event on the loop, most of them answers and journaled
    # exchanges' files: decided on the name's end before any `Path` is built.
    if path.endswith(Suffix.REQUEST):
        return True
    if path.endswith("/req"):
        return _is_job_file(path)
    return path.endswith("/trigger") and _is_hook_file(path)
