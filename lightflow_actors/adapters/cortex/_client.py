"""`CortexClient`: the actor through which workflow runs talk to a CortexFS tree.

It commits requests by `<id>.tmp` → fsync → rename to `<id>.req.json`, and notices when
`<id>.resp.json` or `<id>.error` appears. Noticing works on any implementation of the ABI:
the client polls the files it waits for every `poll_interval_s` (only while something is
pending), and on a plain folder it also listens to inotify (watchfiles) so answers are seen
within milliseconds. On a FUSE mount inotify does not see the server's own writes, which
is why polling is always on.

The in-process shortcut (ADR 0100): when this process's own substrate serves the tree
and routes a target to an in-process Python callable, the client hands each request of
that target to the substrate (`Handoff`) right after the rename, and the substrate tells
it when the answer is written (`AnswerWritten`). Neither side waits for a file watch; the
files are written and read exactly as above, and the watches stay on for everything else.

A commit's file writes and fsyncs run on a worker thread, never on the loop (ADR 0110);
only the rename is done on the loop, in the same turn as the hand-off. The reply is
deferred until the commit is durable, so other actors, and other runs' commits, go on
meanwhile. One id is committed by one commit at a time (a second commit of
an id still being written is a `conflict`, as a committed one is).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import msgspec
import watchfiles

from lightflow_actors.cortex import (
    DECODE_ERRORS,
    AnswerWritten,
    Call,
    Commit,
    CommitFailed,
    CommitFailure,
    CortexError,
    CortexOutcome,
    CtxLayout,
    ErrorObserved,
    ErrorRecord,
    Exchange,
    Exchanged,
    Handoff,
    JournaledFile,
    Observe,
    ObserveTimedOut,
    RequestCommitted,
    RequestConflictError,
    ResponseObserved,
    RouteRecord,
    Suffix,
    TargetKind,
    atomic_write,
    decode_error,
    decode_route,
    fsync_dir,
    prepare_request,
    publish_request,
)
from lightflow_actors.kernel import Actor, ActorRef, Reply, handler

__all__ = ["ClientWatch", "CortexClient", "Shortcut"]

ClientWatch = Literal["inotify", "poll"]

logger = logging.getLogger(__name__)


def _write_files(files: tuple[JournaledFile, ...]) -> None:
    for file in files:
        atomic_write(Path(file.path), file.data, sync_dir=False, sync_file=False)


@dataclass(frozen=True)
class Shortcut:
    """Where the in-process shortcut applies (ADR 0100): `substrate` is the registered
    name of the substrate actor serving this client's tree in this process, and
    `in_process(kind, name)` says whether it routes that target to an in-process Python
    callable. Built by the runs host, which knows both; None turns the shortcut off.

    `on_loop(kind, name)`: whether that callable runs on the event loop (a plain or
    `async def` function, not a `blocking` one), so that a `Commit` whose committer
    journals the exchange is served in memory, its files written by the committer (the
    journaled exchange, ADR 0122). None: never."""

    substrate: str
    in_process: Callable[[TargetKind, str], bool]
    on_loop: Callable[[TargetKind, str], bool] | None = None


class _Tick(msgspec.Struct, frozen=True):
    pass


class _Seen(msgspec.Struct, frozen=True):
    path: str


class _Waiter(msgspec.Struct):
    """A request whose answer the client looks for; told to `notify`, sent to `reply`."""

    kind: TargetKind
    name: str
    id: str
    outbox: Path
    notify: ActorRef[CortexOutcome] | None
    reply: Reply[CortexOutcome | CommitFailed] | None  # a `Call`'s deferred reply
    deadline: float | None
    timeout_s: float | None


class _Journaled(msgspec.Struct):
    """A journaled exchange sent to the substrate: what a fallback to a file needs."""

    kind: TargetKind
    name: str
    data: bytes
    tenant: str | None


class CortexClient(Actor[Commit | Observe | Call | AnswerWritten | Exchanged | _Tick | _Seen]):
    """Commit requests and observe their answers.

    ::

        client = system.spawn(lambda: CortexClient(CtxLayout.from_env()))
        done = await client.ask(Commit("api", "openai.chat", "step-1", {"model": "m"},
                                       notify=run_ref))
        # run_ref later receives ResponseObserved / ErrorObserved / ObserveTimedOut
    """

    def __init__(
        self,
        layout: CtxLayout,
        *,
        watch: ClientWatch = "inotify",
        poll_interval_s: float = 0.05,
        shortcut: Shortcut | None = None,
    ) -> None:
        self._layout = layout
        self._shortcut = shortcut
        self._watch: ClientWatch = watch
        self._poll_interval_s = poll_interval_s
        self._waiters: dict[tuple[str, str], _Waiter] = {}  # (outbox, id) -> waiter
        self._ticking = False
        self._task: asyncio.Task[None] | None = None
        self._stop_event = asyncio.Event()
        self._encoder = msgspec.json.Encoder()
        self._commits: set[asyncio.Task[None]] = set()  # commits on a worker thread
        self._writing: set[tuple[str, str]] = set()  # (inbox, id) being committed
        # Journaled exchanges served in memory, not answered yet (ADR 0122): (outbox, id).
        self._journaled: dict[tuple[str, str], _Journaled] = {}
        self._folders: set[tuple[Path, Path]] = set()  # inbox and outbox pairs that exist

    @property
    def layout(self) -> CtxLayout:
        return self._layout

    def on_start(self) -> None:
        if self._watch == "inotify":
            self._task = self.system.loop.create_task(self._listen())

    def on_stop(self, reason: object) -> None:
        # Synchronous on purpose: an async on_stop of a linked actor can be cancelled by its
        # parent's exit signal before it starts, and the kernel then leaves the actor
        # stopping until it is killed (tests/ctx_substrate/test_shutdown_speed.py). The listener's
        # thread sees the stop event within `step` (1 ms) and its task then ends by itself.
        self._stop_event.set()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for commit in self._commits:
            commit.cancel()  # its thread finishes the file; a resumed run observes it
        # A `Call` still waiting fails with ActorExited: the kernel fails deferred replies.

    async def _listen(self) -> None:
        ref = self.ref
        try:
            async for changes in watchfiles.awatch(
                self._layout.root,
                watch_filter=lambda change, path: (
                    change != watchfiles.Change.deleted
                    and path.endswith((Suffix.RESPONSE, Suffix.ERROR))
                ),
                debounce=50,
                step=50,
                stop_event=self._stop_event,
                ignore_permission_denied=True,
            ):
                for _, path in changes:
                    ref.tell(_Seen(path))
        except asyncio.CancelledError:
            raise
        except Exception:
            return  # no inotify here: polling alone notices answers

    # -- commands -------------------------------------------------------------------------
    @handler
    def commit(self, msg: Commit) -> None:
        self._in_background(self._commit_then_wait(msg, self.defer(msg)))

    async def _commit_then_wait(
        self, msg: Commit, reply: Reply[RequestCommitted | CommitFailed]
    ) -> None:
        try:
            result = await self._commit(
                msg.kind,
                msg.name,
                msg.id,
                msg.body,
                msg.at_most_once,
                msg.tenant,
                journal=msg.journal and msg.notify is not None,
                resuming=msg.resuming,
            )
            if isinstance(result, RequestCommitted) and msg.notify is not None:
                self._wait(msg.kind, msg.name, msg.id, msg.notify, None, msg.timeout_s)
        except Exception as exc:
            reply.fail(exc)
        else:
            reply.send(result)

    @handler
    def call(self, msg: Call) -> None:
        self._in_background(self._call(msg, self.defer(msg)))

    async def _call(self, msg: Call, reply: Reply[CortexOutcome | CommitFailed]) -> None:
        try:
            result = await self._commit(msg.kind, msg.name, msg.id, msg.body)
            if isinstance(result, CommitFailed):
                reply.send(result)
                return
            self._wait(msg.kind, msg.name, msg.id, None, reply, msg.timeout_s)  # `_finish`
        except Exception as exc:
            reply.fail(exc)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = self.system.loop.create_task(work)
        self._commits.add(task)
        task.add_done_callback(self._commits.discard)

    @handler
    def observe(self, msg: Observe) -> None:
        try:
            self._wait(msg.kind, msg.name, msg.id, msg.notify, None, msg.timeout_s)
        except CortexError as exc:
            # An id that cannot name a file can never be answered: say so at once.
            record = ErrorRecord(id=msg.id, kind="invalid_id", message=str(exc))
            msg.notify.tell(ErrorObserved(msg.kind, msg.name, msg.id, record))

    async def _commit(
        self,
        kind: TargetKind,
        name: str,
        request_id: str,
        body: object,
        at_most_once: bool = False,
        tenant: str | None = None,
        *,
        journal: bool = False,
        resuming: bool = True,
    ) -> RequestCommitted | CommitFailed:
        cause: CommitFailure
        error: Exception
        substrate = self._in_process_substrate(kind, name)
        # Relaxed durability only where the committer can recover the exchange: never
        # for at-most-once requests, whose `.once` marker needs the folder fsync.
        relaxed = substrate is not None and not at_most_once
        writing: tuple[str, str] | None = None
        try:
            data = body if isinstance(body, bytes) else self._encoder.encode(body)
            inbox = self._layout.inbox(kind, name)
            writing = (str(inbox), request_id)
            if writing in self._writing:
                writing = None
                raise RequestConflictError(f"{request_id!r} is being committed in {inbox}")
            if journal and relaxed and substrate is not None and self._on_loop(kind, name):
                path = self._exchange(kind, name, request_id, data, tenant, substrate, resuming)
                if path is not None:
                    writing = None
                    return RequestCommitted(kind, name, request_id, str(path))
            self._writing.add(writing)
            # The writing and its fsync on a worker thread; the rename here, on the loop,
            # in the same turn as the hand-off below, so the substrate's watch never sees
            # a handed-off request before the hand-off (it would serve it unrelaxed).
            await self.run_blocking(
                functools.partial(
                    prepare_request,
                    inbox,
                    request_id,
                    data,
                    at_most_once=at_most_once,
                    tenant=tenant,
                )
            )
            path = publish_request(inbox, request_id, sync_folder=False)
            if substrate is not None:
                substrate.tell(Handoff(str(path), self.ref, relaxed))
            if not relaxed:  # the rename made durable before the commit is answered
                await self.run_blocking(fsync_dir, inbox)
        except RequestConflictError as exc:
            cause, error = "conflict", exc
        except CortexError as exc:
            cause, error = "invalid", exc
        except OSError as exc:
            cause, error = "io", exc
        except TypeError as exc:
            cause, error = "unencodable", exc
        else:
            return RequestCommitted(kind, name, request_id, str(path))
        finally:
            if writing is not None:
                self._writing.discard(writing)
        return CommitFailed(kind, name, request_id, f"{type(error).__name__}: {error}", cause)

    def _on_loop(self, kind: TargetKind, name: str) -> bool:
        shortcut = self._shortcut
        return (
            shortcut is not None and shortcut.on_loop is not None and shortcut.on_loop(kind, name)
        )

    def _exchange(
        self,
        kind: TargetKind,
        name: str,
        request_id: str,
        data: bytes,
        tenant: str | None,
        substrate: ActorRef[Handoff],
        resuming: bool,
    ) -> Path | None:
        """The journaled exchange (ADR 0122): no file now; the substrate serves `data`
        from memory and answers with the files (`exchanged`). Raises a conflict as a
        file commit would: the id is in memory now, or (`resuming`, a request committed
        again after a restart) it is committed, served or answered in this inbox. A
        fresh attempt's id skips the file look-ups: ids never repeat, and a journaled
        exchange's files exist only once the frame with its `submitted` is durable, so
        the resumed run commits it `resuming`. None when the folders are not there:
        commit it as a file (which makes the error)."""
        inbox, outbox = self._layout.inbox(kind, name), self._layout.outbox(kind, name)
        path = CtxLayout.file(inbox, request_id, Suffix.REQUEST)  # checks the id
        key = (str(outbox), request_id)
        if key in self._journaled:
            raise RequestConflictError(f"{request_id!r} is being served in {inbox}")
        for suffix in (Suffix.REQUEST, Suffix.CLAIMED, Suffix.DONE) if resuming else ():
            existing = CtxLayout.file(inbox, request_id, suffix)
            if os.path.lexists(existing):
                raise RequestConflictError(str(existing))
        if (inbox, outbox) not in self._folders:
            if not (os.path.isdir(inbox) and os.path.isdir(outbox)):
                return None
            self._folders.add((inbox, outbox))  # folders of the tree are never removed
        self._journaled[key] = _Journaled(kind, name, data, tenant)
        exchange = Exchange(str(path), data, self.ref, tenant, resuming)
        cast("ActorRef[Exchange]", substrate).tell(exchange)
        return path

    @handler
    def exchanged(self, msg: Exchanged) -> None:
        """A journaled exchange's outcome: to its waiter, with the files to write; or,
        refused in memory, committed as a file (`fallback`) and served as one."""
        sent = self._journaled.pop((msg.outbox, msg.id), None)
        if sent is None:
            return
        waiter = self._waiters.get((msg.outbox, msg.id))
        if msg.fallback:
            self._in_background(self._commit_file(msg.id, sent))
            return
        files = msg.files
        if sent.tenant is not None:  # the tenant marker goes before the request, as a commit's
            inbox = self._layout.inbox(sent.kind, sent.name)
            marker = JournaledFile(
                str(CtxLayout.file(inbox, msg.id, Suffix.TENANT)), sent.tenant.encode("ascii")
            )
            files = (*files[:-1], marker, files[-1])
        if waiter is None:
            # Nobody waits any more (the step timed out and went on without it): no
            # journal carries these files now, so the client writes them, as the
            # substrate writes a late answer to a request file. A reader finds the
            # request answered and closed, like every other (ADR 0135).
            self._in_background(self._write_late(msg.id, files))
            return
        outcome: CortexOutcome
        if msg.error is not None:
            outcome = ErrorObserved(waiter.kind, waiter.name, msg.id, msg.error, files)
        else:
            outcome = ResponseObserved(
                waiter.kind,
                waiter.name,
                msg.id,
                msg.response or b"",
                msg.route,
                msg.fingerprint,
                files,
            )
        self._finish(waiter, outcome)

    async def _write_late(self, request_id: str, files: tuple[JournaledFile, ...]) -> None:
        """A late journaled answer's files, in their order, each whole and unsynced (as
        the journal writes them, ADR 0122), on a worker thread. A failure is logged:
        the step's run no longer waits for them."""
        try:
            await self.run_blocking(_write_files, files)
        except OSError as exc:
            logger.warning("the late answer of %r is not written: %s", request_id, exc)

    async def _commit_file(self, request_id: str, sent: _Journaled) -> None:
        """A journaled exchange the substrate did not serve: commit it as a file. A
        failure is the waiter's answer (the commit was acknowledged already)."""
        result = await self._commit(sent.kind, sent.name, request_id, sent.data, False, sent.tenant)
        outbox = self._layout.outbox(sent.kind, sent.name)
        waiter = self._waiters.get((str(outbox), request_id))
        if isinstance(result, CommitFailed) and waiter is not None:
            if result.cause == "conflict":  # committed before: its answer is observed
                self._check(waiter)
            else:
                record = ErrorRecord(id=request_id, kind="io_error", message=result.reason)
                self._finish(waiter, ErrorObserved(sent.kind, sent.name, request_id, record))

    def _in_process_substrate(self, kind: TargetKind, name: str) -> ActorRef[Handoff] | None:
        """The substrate to hand a request of this target to, or None (watch as usual)."""
        shortcut = self._shortcut
        if shortcut is None or not shortcut.in_process(kind, name):
            return None
        # Looked up per commit: the substrate may have been restarted (the runs subtree
        # restarts this client with it, but a lookup costs a dict read).
        ref = self.system.whereis(shortcut.substrate)
        # The substrate lives in a layer above this one, so its class cannot be named
        # here; a tell it had no handler for would still be refused by the kernel.
        return None if ref is None else cast("ActorRef[Handoff]", ref)

    def _wait(
        self,
        kind: TargetKind,
        name: str,
        request_id: str,
        notify: ActorRef[CortexOutcome] | None,
        reply: Reply[CortexOutcome | CommitFailed] | None,
        timeout_s: float | None,
    ) -> None:
        outbox = self._layout.outbox(kind, name)
        CtxLayout.file(outbox, request_id, Suffix.RESPONSE)  # checks the id
        deadline = None if timeout_s is None else self.system.clock.now() + timeout_s
        waiter = _Waiter(kind, name, request_id, outbox, notify, reply, deadline, timeout_s)
        key = (str(outbox), request_id)
        self._waiters[key] = waiter
        # A journaled exchange's answer comes as a message: no file to look at yet.
        if key in self._journaled or not self._check(waiter):
            self._ensure_ticking()

    # -- noticing answers -----------------------------------------------------------------
    def _ensure_ticking(self) -> None:
        if not self._ticking and self._waiters:
            self._ticking = True
            self.send_after(self._poll_interval_s, self.ref, _Tick())

    @handler
    def tick(self, msg: _Tick) -> None:
        self._ticking = False
        now = self.system.clock.now()
        for key, waiter in list(self._waiters.items()):
            answered = key not in self._journaled and self._check(waiter)
            if not answered and waiter.deadline is not None and now >= waiter.deadline:
                self._finish(
                    waiter,
                    ObserveTimedOut(waiter.kind, waiter.name, waiter.id, waiter.timeout_s or 0.0),
                )
        self._ensure_ticking()

    @handler
    def seen(self, msg: _Seen) -> None:
        path = Path(msg.path)
        name = path.name
        for suffix in (Suffix.RESPONSE, Suffix.ERROR):
            if name.endswith(suffix):
                waiter = self._waiters.get((str(path.parent), name[: -len(suffix)]))
                if waiter is not None:
                    self._check(waiter)

    @handler
    def answer_written(self, msg: AnswerWritten) -> None:
        waiter = self._waiters.get((msg.outbox, msg.id))
        if waiter is not None:
            self._check(waiter)

    def _check(self, waiter: _Waiter) -> bool:
        """Deliver the outcome if an answer file exists; True when the waiter is done.

        A zero-length answer is none: answers are JSON, so it is one a power loss emptied
        (ADR 0117); for an in-process target the exchange is served again (`_serve_again`)."""
        response = CtxLayout.file(waiter.outbox, waiter.id, Suffix.RESPONSE)
        error = CtxLayout.file(waiter.outbox, waiter.id, Suffix.ERROR)
        outcome: CortexOutcome | None = None
        if os.path.exists(response):
            body = _read(response)
            if body == b"":
                return self._serve_again(waiter)
            outcome = ResponseObserved(
                waiter.kind,
                waiter.name,
                waiter.id,
                body or b"",
                _route(CtxLayout.file(waiter.outbox, waiter.id, Suffix.ROUTE)),
                _text(CtxLayout.file(waiter.outbox, waiter.id, Suffix.FINGERPRINT)),
            )
        elif os.path.exists(error):
            if _read(error) == b"":
                return self._serve_again(waiter)
            outcome = ErrorObserved(waiter.kind, waiter.name, waiter.id, _error(waiter.id, error))
        if outcome is None:
            return False
        self._finish(waiter, outcome)
        return True

    def _serve_again(self, waiter: _Waiter) -> bool:
        """The answer of `waiter`'s request was emptied by a power loss (its files are not
        fsynced when the exchange is relaxed, ADR 0117). The substrate serves a claim whose
        answer is empty again when it restarts; a request closed (`.done`) before the power
        loss is committed again here, under its id and with its own body, and handed off,
        after the emptied answer files are removed. Only for a target this process's
        substrate serves in-process (the only relaxed answers); others are waited for.
        Returns False: the waiter waits for the new answer."""
        substrate = self._in_process_substrate(waiter.kind, waiter.name)
        if substrate is None:
            return False
        inbox = self._layout.inbox(waiter.kind, waiter.name)
        done = CtxLayout.file(inbox, waiter.id, Suffix.DONE)
        request = CtxLayout.file(inbox, waiter.id, Suffix.REQUEST)
        try:
            if os.path.getsize(done) == 0:
                return False  # the request itself is unreadable: nothing to serve again
            for suffix in (Suffix.RESPONSE, Suffix.ERROR, Suffix.ROUTE, Suffix.FINGERPRINT):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(CtxLayout.file(waiter.outbox, waiter.id, suffix))
            os.rename(done, request)
        except OSError:
            return False  # not closed (the substrate serves its claim), or gone: wait
        substrate.tell(Handoff(str(request), self.ref, True))
        return False

    def _finish(self, waiter: _Waiter, outcome: CortexOutcome) -> None:
        # A journaled exchange stays in `_journaled` after its waiter timed out: it is
        # still served in memory (a commit of its id is a conflict) and its late answer
        # is written when it comes (`exchanged`).
        self._waiters.pop((str(waiter.outbox), waiter.id), None)
        if waiter.notify is not None:
            waiter.notify.tell(outcome)
        if waiter.reply is not None:
            waiter.reply.send(outcome)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _text(path: Path) -> str | None:
    data = _read(path)
    return data.decode("utf-8", "replace").strip() if data is not None else None


def _route(path: Path) -> RouteRecord | None:
    data = _read(path)
    if data is None:
        return None
    try:
        return decode_route(data)
    except DECODE_ERRORS:
        return None  # a route file we cannot read names no route; the answer still counts


def _error(request_id: str, path: Path) -> ErrorRecord:
    data = _read(path) or b""
    try:
        return decode_error(data)
    except DECODE_ERRORS:
        # Another ABI implementation may write plain text: keep it as the message.
        text = data.decode("utf-8", "replace").strip()
        return ErrorRecord(id=request_id, kind="provider_error", message=text)
