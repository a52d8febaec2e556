"""Jobs and hooks: requests that live in their own folder, run by their own actors.

    home/<uid>/job/<id>/{spec,req,out.json,status}
    home/<uid>/hook/<id>/{trigger,spec,req,out.json,status,last,log.jsonl}

A job runs once when its `req` is committed (written as `req.tmp`, renamed to `req`) while
its status is absent or `queued`; a job found `running` at start-up was interrupted and runs
again. A hook fires every `trigger.every_s` seconds of the system clock. Both send `req` to
the target named in `spec` through the substrate (same routes, policy, providers, audit) and
write `out.json` (the response, or `{"error": {...}}`) and `status`.

Their file work (reading `spec`, `req` and `trigger`, writing `status`, `out.json`, `last`
and `log.jsonl` with their fsyncs, their audit lines) runs on a worker thread through the
runner's ``run_blocking``, never on the event loop (ADR 0119, ADR 0128): a folder of hooks
firing often costs the loop their messages, not their fsyncs.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import msgspec

from lightflow_actors.cortex import ErrorKind, ErrorRecord, TargetKind, atomic_write, safe_text
from lightflow_actors.kernel import Actor, ActorRef, handler

from ._audit import AuditEvent, AuditLog
from ._errors import RequestRefused
from ._intake import read_request
from ._specs import JobSpec, JobStatus, SpecError, decode_job_spec, decode_trigger
from .providers import Answer, Served

__all__ = ["Dispatch", "HookRunner", "JobRunner", "read_status"]

logger = logging.getLogger("ctx_substrate")

_FILE_LIMIT = 1 << 20
_RETRY_S = 1.0


class Dispatch(msgspec.Struct, frozen=True):
    """Serve `raw` as a request to a target on behalf of a job or hook; answer to `reply_to`."""

    kind: TargetKind
    name: str
    uid: str
    id: str
    raw: bytes
    reply_to: ActorRef[Served]


def read_status(folder: Path) -> str | None:
    try:
        return (folder / "status").read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _write_status(folder: Path, status: JobStatus) -> None:
    atomic_write(folder / "status", (status + "\n").encode())


def _out(outcome: Served) -> tuple[bytes, JobStatus, ErrorKind | None]:
    if isinstance(outcome.outcome, Answer):
        return outcome.outcome.body, "succeeded", None
    record = ErrorRecord(id="", kind=outcome.outcome.kind, message=outcome.outcome.message)
    return msgspec.json.encode({"error": record}), "failed", outcome.outcome.kind


def _load_failure(exc: RequestRefused | SpecError | OSError) -> tuple[ErrorKind, str]:
    """The `out.json` error of a job whose `spec` or `req` cannot be used."""
    if isinstance(exc, RequestRefused):
        return exc.kind, exc.message
    if isinstance(exc, SpecError):
        return "malformed", str(exc)
    return "io_error", f"cannot read the job's files: {exc}"


def _load(folder: Path) -> tuple[JobSpec, bytes]:
    spec = decode_job_spec(read_request(folder / "spec", _FILE_LIMIT), str(folder / "spec"))
    return spec, read_request(folder / "req", _FILE_LIMIT)


def _audit_line(audit: AuditLog, event: AuditEvent) -> None:
    """Append `event`, unless the substrate closed its log meanwhile (it is stopping: the
    line goes the way of a line that could not be written)."""
    try:
        audit.append(event)
    except RuntimeError:  # closed; a failed write is counted in `dropped` by `append`
        logger.warning("audit log closed; %s of %s not recorded", event.event, event.target)


class _LoadFailed(msgspec.Struct, frozen=True):
    """A job's or hook's `spec` or `req` could not be used: its `out.json` error."""

    kind: ErrorKind
    message: str


def _try_load(folder: Path) -> tuple[JobSpec, bytes] | _LoadFailed:
    try:
        return _load(folder)
    except (RequestRefused, SpecError, OSError) as exc:
        return _LoadFailed(*_load_failure(exc))


def _begin_job(folder: Path, audit: AuditLog) -> tuple[JobSpec, bytes] | _LoadFailed:
    """On a worker thread: mark the job running, audit it, read its `spec` and `req`."""
    _write_status(folder, "running")
    _audit_line(audit, AuditEvent("job.started", kind="job", target=folder.name))
    return _try_load(folder)


def _end_job(
    folder: Path,
    uid: str,
    audit: AuditLog,
    body: bytes,
    status: JobStatus,
    error: ErrorKind | None,
    only_if_there: bool,
) -> None:
    """On a worker thread: write the job's `out.json` and `status`, audit its end; with
    `only_if_there`, nothing when the folder was removed while the job ran."""
    if only_if_there and not folder.is_dir():
        return
    atomic_write(folder / "out.json", body)
    _write_status(folder, status)
    _audit_line(
        audit,
        AuditEvent(
            "job.finished", kind="job", target=folder.name, uid=uid, reason=status, error=error
        ),
    )


class JobRunner(Actor[Served]):
    """Runs one job once, then stops."""

    def __init__(
        self, folder: Path, uid: str, substrate: ActorRef[Dispatch], audit: AuditLog
    ) -> None:
        self._folder = folder
        self._uid = uid
        self._substrate = substrate
        self._audit = audit

    async def on_start(self) -> None:
        folder = self._folder
        loaded = await self.run_blocking(_begin_job, folder, self._audit)
        if isinstance(loaded, _LoadFailed):  # the job fails, visibly
            record = ErrorRecord(
                id=safe_text(folder.name), kind=loaded.kind, message=loaded.message
            )
            body = msgspec.json.encode({"error": record})
            await self._finish(body, "failed", loaded.kind, only_if_there=False)
            return
        spec, raw = loaded
        self._substrate.tell(
            Dispatch(spec.kind, spec.target, self._uid, folder.name, raw, self.ref)
        )

    @handler
    async def served(self, msg: Served) -> None:
        await self._finish(*_out(msg), only_if_there=True)  # removed meanwhile: nothing to write

    async def _finish(
        self, body: bytes, status: JobStatus, error: ErrorKind | None, *, only_if_there: bool
    ) -> None:
        await self.run_blocking(
            _end_job, self._folder, self._uid, self._audit, body, status, error, only_if_there
        )
        self.stop()


class _Fire(msgspec.Struct, frozen=True):
    pass


def _read_trigger(folder: Path) -> float | str | None:
    """On a worker thread: the hook's interval, the trigger's problem, or None when the
    folder is gone."""
    try:
        trigger = decode_trigger(read_request(folder / "trigger", 4096), str(folder / "trigger"))
    except Exception as exc:
        return f"trigger: {exc}" if folder.is_dir() else None
    return trigger.every_s


def _begin_firing(folder: Path) -> tuple[JobSpec, bytes] | _LoadFailed | None:
    """On a worker thread: None when the folder is gone, else its `spec` and `req` read
    (and `status` set running), or why they could not be."""
    if not folder.is_dir():
        return None
    try:
        spec, raw = _load(folder)
    except Exception as exc:
        return _LoadFailed("malformed", str(exc))
    _write_status(folder, "running")
    return spec, raw


def _log_firing(
    folder: Path,
    uid: str,
    audit: AuditLog,
    now_ms: int,
    status: JobStatus,
    error: str | None,
    body: bytes | None = None,
) -> bool:
    """On a worker thread: write the firing's `out.json` (when `body`), `status`, `last`,
    its `log.jsonl` line and audit line. False (nothing written) when `body` is given and
    the folder was removed while the request was served."""
    if body is not None:
        if not folder.is_dir():
            return False
        atomic_write(folder / "out.json", body)
    _write_status(folder, status)
    atomic_write(folder / "last", f"{now_ms}\n".encode())
    line = msgspec.json.encode({"ts_ms": now_ms, "status": status, "error": error}) + b"\n"
    # O_NOFOLLOW: a symlink planted as log.jsonl must not redirect the substrate's writes.
    fd = os.open(
        folder / "log.jsonl",
        os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW,
        0o644,
    )
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    _audit_line(
        audit, AuditEvent("hook.fired", kind="hook", target=folder.name, uid=uid, reason=status)
    )
    return True


class HookRunner(Actor[_Fire | Served]):
    """Fires one hook on its interval until its folder disappears or its trigger breaks."""

    def __init__(
        self, folder: Path, uid: str, substrate: ActorRef[Dispatch], audit: AuditLog
    ) -> None:
        self._folder = folder
        self._uid = uid
        self._substrate = substrate
        self._audit = audit
        self._busy = False
        self._trigger_problem: str | None = None

    async def on_start(self) -> None:
        await self._schedule()

    async def _schedule(self) -> None:
        """Arm the next firing; a broken trigger is logged once and re-read every second;
        stop once the folder is gone."""
        every = await self.run_blocking(_read_trigger, self._folder)
        if every is None:
            self.stop()
            return
        if isinstance(every, str):
            if every != self._trigger_problem:
                self._trigger_problem = every
                await self._log("failed", every)
            self.send_after(_RETRY_S, self.ref, _Fire())
            return
        self._trigger_problem = None
        self.send_after(every, self.ref, _Fire())

    @handler
    async def fire(self, msg: _Fire) -> None:
        if self._busy or self._trigger_problem is not None:
            # The previous firing has not answered (skip this one), or the trigger is broken.
            await self._schedule()
            return
        loaded = await self.run_blocking(_begin_firing, self._folder)
        if loaded is None:
            self.stop()
            return
        if isinstance(loaded, _LoadFailed):
            await self._log("failed", loaded.message)
            await self._schedule()
            return
        spec, raw = loaded
        self._busy = True
        self._substrate.tell(
            Dispatch(spec.kind, spec.target, self._uid, self._folder.name, raw, self.ref)
        )
        await self._schedule()

    @handler
    async def served(self, msg: Served) -> None:
        self._busy = False
        body, status, error = _out(msg)
        if not await self._log(status, error, body):  # removed while the request was served
            self.stop()

    async def _log(self, status: JobStatus, error: str | None, body: bytes | None = None) -> bool:
        now = self.system.clock.wall_ms()
        return await self.run_blocking(
            _log_firing, self._folder, self._uid, self._audit, now, status, error, body
        )
