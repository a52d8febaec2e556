"""Path records behind `lightflow ctx abi|api|tool|thread|chan|job|hook`.

Each function takes a `CtxLayout` and names, checks the ids, and returns a frozen msgspec
struct of paths (strings), ready for `msgspec.json.encode`. Nothing here touches the disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from ._ids import check_segment_id
from ._layout import API_FORMATS, CtxLayout, Suffix

__all__ = [
    "AbiRecord",
    "ApiRecord",
    "ChannelRecord",
    "CtxSource",
    "ExchangeFiles",
    "HookRecord",
    "JobRecord",
    "ThreadRecord",
    "ToolRecord",
    "ctx_abi",
    "ctx_api",
    "ctx_chan",
    "ctx_hook",
    "ctx_job",
    "ctx_thread",
    "ctx_tool",
]

COMMIT_RULE = "write <id>.tmp, fsync, rename to <id>.req.json; a plain write does not trigger"


class ExchangeFiles(msgspec.Struct, frozen=True):
    """The files of one request id: where to commit it and where its answers appear."""

    id: str
    tmp: str
    request: str
    response: str
    error: str
    fingerprint: str
    route: str | None  # threads have no route file


CtxSource = Literal["config", "env", "ctx", "state"]
"""Where a runs tree comes from (see `AbiRecord.source`)."""


class AbiRecord(msgspec.Struct, frozen=True):
    """`lightflow ctx abi`: the whole tree at a glance. `source` says why this tree was
    chosen (`config`: the runs config's `ctx.root`; `env`: `$LIGHTFLOW_CTX_MOUNT`; `ctx`:
    the seed's `/ctx`, which exists and is writable; `state`: the state folder's tree,
    as `/ctx` is missing or not writable), when the caller knows."""

    mount: str
    uid: str
    home: str
    formats: tuple[str, ...]
    api: str
    tool: str
    thread: str
    chan: str
    job: str
    hook: str
    audit: str
    model: str
    route: str
    commit: str = COMMIT_RULE
    source: CtxSource | None = None


class ApiRecord(msgspec.Struct, frozen=True):
    format: str
    inbox: str
    outbox: str
    files: ExchangeFiles | None = None


class ToolRecord(msgspec.Struct, frozen=True):
    tool: str
    inbox: str
    outbox: str
    files: ExchangeFiles | None = None


class ThreadRecord(msgspec.Struct, frozen=True):
    thread: str
    inbox: str
    outbox: str  # the same folder as the inbox
    files: ExchangeFiles | None = None


class ChannelRecord(msgspec.Struct, frozen=True):
    id: str
    dir: str
    url: str
    keyref: str
    fmt: str
    mod: str
    enabled: str
    status: str
    localurl: str


class JobRecord(msgspec.Struct, frozen=True):
    id: str
    dir: str
    spec: str
    req: str
    out: str
    status: str


class HookRecord(msgspec.Struct, frozen=True):
    id: str
    dir: str
    trigger: str
    spec: str
    req: str
    out: str
    status: str
    last: str
    log: str


def _files(
    layout: CtxLayout, inbox: str, outbox: str, request_id: str, *, route: bool
) -> ExchangeFiles:
    check_segment_id("request", request_id)
    i, o = Path(inbox), Path(outbox)
    return ExchangeFiles(
        id=request_id,
        tmp=str(layout.file(i, request_id, Suffix.TMP)),
        request=str(layout.file(i, request_id, Suffix.REQUEST)),
        response=str(layout.file(o, request_id, Suffix.RESPONSE)),
        error=str(layout.file(o, request_id, Suffix.ERROR)),
        fingerprint=str(layout.file(o, request_id, Suffix.FINGERPRINT)),
        route=str(layout.file(o, request_id, Suffix.ROUTE)) if route else None,
    )


def ctx_abi(layout: CtxLayout) -> AbiRecord:
    root = layout.root_path
    return AbiRecord(
        mount=layout.root,
        uid=layout.uid,
        home=str(layout.home),
        formats=API_FORMATS,
        api=str(layout.home / "api"),
        tool=str(root / "tool"),
        thread=str(layout.home / "thread"),
        chan=str(root / "chan"),
        job=str(layout.home / "job"),
        hook=str(layout.home / "hook"),
        audit=str(layout.audit_log),
        model=str(layout.model_dir),
        route=str(layout.route_dir),
    )


def ctx_api(layout: CtxLayout, fmt: str, request_id: str | None = None) -> ApiRecord:
    inbox, outbox = str(layout.api_inbox(fmt)), str(layout.api_outbox(fmt))
    files = None if request_id is None else _files(layout, inbox, outbox, request_id, route=True)
    return ApiRecord(format=fmt, inbox=inbox, outbox=outbox, files=files)


def ctx_tool(layout: CtxLayout, tool: str, request_id: str | None = None) -> ToolRecord:
    inbox, outbox = str(layout.tool_inbox(tool)), str(layout.tool_outbox(tool))
    files = None if request_id is None else _files(layout, inbox, outbox, request_id, route=True)
    return ToolRecord(tool=tool, inbox=inbox, outbox=outbox, files=files)


def ctx_thread(layout: CtxLayout, thread: str, request_id: str | None = None) -> ThreadRecord:
    inbox = str(layout.thread_inbox(thread))
    files = None if request_id is None else _files(layout, inbox, inbox, request_id, route=False)
    return ThreadRecord(thread=thread, inbox=inbox, outbox=inbox, files=files)


def ctx_chan(layout: CtxLayout, channel: str) -> ChannelRecord:
    d = layout.chan_dir(channel)
    return ChannelRecord(
        id=channel,
        dir=str(d),
        url=str(d / "url"),
        keyref=str(d / "keyref"),
        fmt=str(d / "fmt"),
        mod=str(d / "mod"),
        enabled=str(d / "enabled"),
        status=str(d / "status"),
        localurl=str(d / "localurl"),
    )


def ctx_job(layout: CtxLayout, job: str) -> JobRecord:
    d = layout.job_dir(job)
    return JobRecord(
        id=job,
        dir=str(d),
        spec=str(d / "spec"),
        req=str(d / "req"),
        out=str(d / "out.json"),
        status=str(d / "status"),
    )


def ctx_hook(layout: CtxLayout, hook: str) -> HookRecord:
    d = layout.hook_dir(hook)
    return HookRecord(
        id=hook,
        dir=str(d),
        trigger=str(d / "trigger"),
        spec=str(d / "spec"),
        req=str(d / "req"),
        out=str(d / "out.json"),
        status=str(d / "status"),
        last=str(d / "last"),
        log=str(d / "log.jsonl"),
    )
