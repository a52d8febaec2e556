"""The `spec` and `trigger` files of jobs and hooks (decoded once, by msgspec).

job/<id>/spec       {"kind": "api", "target": "openai.chat"}   what `req` is sent to
hook/<id>/trigger   {"every_s": 30}                            an interval on the system clock
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from lightflow_actors.cortex import DECODE_ERRORS, TargetKind

from ._errors import SubstrateError

__all__ = ["HookTrigger", "JobSpec", "JobStatus", "SpecError", "decode_job_spec", "decode_trigger"]

JobStatus = Literal["queued", "running", "succeeded", "failed"]


class SpecError(SubstrateError, ValueError):
    """A job spec or hook trigger file does not match its schema."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}; see specs/cortexfs-abi.md §Jobs and hooks")


class JobSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a job's (or hook's) `req` goes: an api format, a tool or a thread."""

    kind: TargetKind
    target: str


class HookTrigger(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Fire every `every_s` seconds of the system clock (first fire one interval after start)."""

    every_s: Annotated[float, msgspec.Meta(gt=0, le=86400 * 366)]


def decode_job_spec(data: bytes, source: str) -> JobSpec:
    """Decode a job (or hook) `spec`; raises `SpecError` and nothing else for bad bytes."""
    try:
        return msgspec.json.decode(data, type=JobSpec)
    except DECODE_ERRORS as exc:
        raise SpecError(source, _problem(exc)) from exc


def decode_trigger(data: bytes, source: str) -> HookTrigger:
    """Decode a hook `trigger`; raises `SpecError` and nothing else for bad bytes."""
    try:
        return msgspec.json.decode(data, type=HookTrigger)
    except DECODE_ERRORS as exc:
        raise SpecError(source, _problem(exc)) from exc


def _problem(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "the JSON nests too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return "the file is not UTF-8"
    return str(exc)
