"""``lightflow ctx abi|api|tool|thread|chan|job|hook``: where things live in the `/ctx` tree.

Each verb prints the paths of one part of the CortexFS ABI as JSON (specs/cortexfs-abi.md),
for the tree the runs use (the runs config's ``ctx``; default ``<state>/ctx``, or
``$LIGHTFLOW_CTX_MOUNT``). With a request id, ``api``/``tool``/``thread`` also print the
files of that request. ``abi`` also says why the tree is this one (``source``: the runs
config, ``$LIGHTFLOW_CTX_MOUNT``, the seed's ``/ctx`` when it is a writable folder, or the
state folder's tree). Nothing is read or written. A bad id exits 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from lightflow_actors.cortex import (
    API_FORMATS,
    CortexError,
    CtxLayout,
    ctx_api,
    ctx_chan,
    ctx_hook,
    ctx_job,
    ctx_thread,
    ctx_tool,
)

from ._errors import UsageError
from ._group import print_json
from ._parser import StrictParser
from ._run import reading

Show = Callable[[CtxLayout, argparse.Namespace], object]


def configure(parser: StrictParser) -> None:
    add_verb = parser.add_verbs("ctx_verb")

    def verb(name: str, summary: str, show: Show) -> StrictParser:
        sub = add_verb(name, summary)
        sub.set_defaults(handler=run, show=show, verb=name)
        return sub

    abi = add_verb("abi", "the whole tree at a glance, and why it is this one")
    abi.set_defaults(handler=run_abi)
    api = verb(
        "api", "an API format's inbox and outbox", lambda lay, a: ctx_api(lay, a.format, a.id)
    )
    api.add_argument("format", choices=API_FORMATS)
    api.add_argument("id", nargs="?", help="a request id: also print its files")
    tool = verb("tool", "a tool's inbox and outbox", lambda lay, a: ctx_tool(lay, a.tool, a.id))
    tool.add_argument("tool")
    tool.add_argument("id", nargs="?", help="a request id: also print its files")
    thread = verb(
        "thread",
        "a thread's inbox (answers land there too)",
        lambda lay, a: ctx_thread(lay, a.thread, a.id),
    )
    thread.add_argument("thread")
    thread.add_argument("id", nargs="?", help="a request id: also print its files")
    verb("chan", "a channel's files", lambda lay, a: ctx_chan(lay, a.name)).add_argument("name")
    verb("job", "a job's files", lambda lay, a: ctx_job(lay, a.name)).add_argument("name")
    verb("hook", "a hook's files", lambda lay, a: ctx_hook(lay, a.name)).add_argument("name")


def run_abi(args: argparse.Namespace) -> int:
    print_json(reading("ctx abi", lambda ops: ops.abi()))
    return 0


def run(args: argparse.Namespace) -> int:
    layout = reading(f"ctx {args.verb}", lambda ops: ops.layout)
    show: Show = args.show
    try:
        print_json(show(layout, args))
    except CortexError as exc:
        raise UsageError(f"lightflow ctx {args.verb}: {exc}") from None
    return 0
