"""Jobs and hooks: requests that live in their own folder, run by their own actors.

    home/<uid>/job/<id>/{spec,req,out.json,status}
    home/<uid>/hook/<id>/{trigger,spec,req,out.json,status,last,log.jsonl}

A job runs once when its `req` is committed (written as `req.tmp`, renamed to `req`) while
its status is absent or `queued`; a job found `running` at start-up was interrupted and runs
again. A hook fires every `trigger.every_s` seconds of the system clock. Both send `req` to
the target named in `spec` through the substrate (same routes, policy, providers, audit) and
write `out.json` (the response, or `{"error": {...}}`) and `status`.
"""

from __future__ import annotations

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


class JobRunner(Actor[Served]):
    """Runs one job once, then stops."""

    def __init__(
        self, folder: Path, uid: str, substrate: ActorRef[Dispatch], audit: AuditLog
    ) -> None:
        self._folder = folder
        self._uid = uid
        self._substrate = substrate
        self._audit = audit

    def on_start(self) -> None:
        _write_status(self._folder, "running")
        self._audit.append(AuditEvent("job.started", kind="job", target=self._folder.name))
        try:
            spec, raw = _load(self._folder)
        except (RequestRefused, SpecError, OSError) as exc:  # the job fails, visibly
            kind, message = _load_failure(exc)
            record = ErrorRecord(id=safe_text(self._folder.name), kind=kind, message=message)
            self._finish(msgspec.json.encode({"error": record}), "failed", kind)
            return
        self._substrate.tell(
            Dispatch(spec.kind, spec.target, self._uid, self._folder.name, raw, self.ref)
        )

    @handler
    def served(self, msg: Served) -> None:
        if not self._folder.is_dir():  # removed while the job ran: nothing to write into
            self.stop()
            return
        self._finish(*_out(msg))

    def _finish(self, body: bytes, status: JobStatus, error: ErrorKind | None) -> None:
        atomic_write(self._folder / "out.json", body)
        _write_status(self._folder, status)
        self._audit.append(
            AuditEvent(
                "job.finished",
                kind="job",
                target=self._folder.name,
                uid=self._uid,
                reason=status,
                error=error,
            )
        )
        self.stop()


class _Fire(msgspec.Struct, frozen=True):
    pass


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

    def on_start(self) -> None:
        self._schedule()

    def _schedule(self) -> None:
        """Arm the next firing; a broken trigger is logged once and re-read every second."""
        try:
            trigger = decode_trigger(
                read_request(self._folder / "trigger", 4096), str(self._folder / "trigger")
            )
        except Exception as exc:
            problem = f"trigger: {exc}"
            if problem != self._trigger_problem and self._folder.is_dir():
                self._trigger_problem = problem
                self._log("failed", problem)
            self.send_after(_RETRY_S, self.ref, _Fire())
            return
        self._trigger_problem = None
        self.send_after(trigger.every_s, self.ref, _Fire())

    @handler
    def fire(self, msg: _Fire) -> None:
        if not self._folder.is_dir():
            self.stop()
            return
        if self._busy or self._trigger_problem is not None:
            # The previous firing has not answered (skip this one), or the trigger is broken.
            self._schedule()
            return
        try:
            spec, raw = _load(self._folder)
        except Exception as exc:
            self._log("failed", str(exc))
            self._schedule()
            return
        self._busy = True
        _write_status(self._folder, "running")
        self._substrate.tell(
            Dispatch(spec.kind, spec.target, self._uid, self._folder.name, raw, self.ref)
        )
        self._schedule()

    @handler
    def served(self, msg: Served) -> None:
        self._busy = False
        if not self._folder.is_dir():  # removed while the request was served
            self.stop()
            return
        body, status, error = _out(msg)
        atomic_write(self._folder / "out.json", body)
        self._log(status, error)

    def _log(self, status: JobStatus, error: str | None) -> None:
        now = self.system.clock.wall_ms()
        _write_status(self._folder, status)
        atomic_write(self._folder / "last", f"{now}\n".encode())
        line = msgspec.json.encode({"ts_ms": now, "status": status, "error": error}) + b"\n"
        # O_NOFOLLOW: a symlink planted as log.jsonl must not redirect the substrate's writes.
        fd = os.open(
            self._folder / "log.jsonl",
            os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW,
            0o644,
        )
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        self._audit.append(
            AuditEvent(
                "hook.fired", kind="hook", target=self._folder.name, uid=self._uid, reason=status
            )
        )
