"""``lightflow run``: preview, create and drive workflow runs; read their files.

Runs are reached in-process (no server needed, the embedded defaults work on a fresh
machine): reading verbs read the run store; ``create``, ``submit``, ``refresh`` and
``retry`` host the run in a short-lived actor system (run actor, CortexFS client and,
unless a server already serves the tree, the embedded substrate) until it settles, then
print it. ``cancel`` writes the cancel through the store; a server driving the run
notices at its next write. ``watch`` (and ``create``/``retry`` with ``--follow``) shows
the run live as its journal grows (``_watch.py``), whoever drives it.

Exit codes: 0 done (for ``create``/``submit``/``refresh``/``retry``: the run succeeded);
1 the run failed or was cancelled, or the run/step/asset does not exist, or a conflict;
2 a usage error or invalid input (bad run id, inputs that are not a JSON object of the
workflow's fields, a template of the wrong type, an asset with a syntax error, a request
body that is not a JSON object). A followed run exits 0 succeeded, 1 failed, 130
cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import msgspec

from lightflow_actors.host import (
    RunsHosting,
    create_and_settle,
    local_operations,
    refresh_and_settle,
    retry_and_settle,
    run_hosted,
    submit_and_settle,
)
from lightflow_actors.isa import JSONValue
from lightflow_actors.runs import (
    AwaitSettled,
    CancelRun,
    CreateRun,
    RetryRun,
    RunsError,
    RunsOperations,
)

from ...flow import MAX_RUN_ID_BYTES, FlowError, RunView, check_model_override
from ...tenants import TenantIdError, check_tenant
from ._errors import CliError, UsageError, failure
from ._group import print_json
from ._parser import StrictParser
from ._watch import EXIT_CODES, Board, follow, sink_for

T = TypeVar("T")
MAX_INPUTS_BYTES = 1 << 20
MAX_BODY_BYTES = 1 << 20


def reading(verb: str, op: Callable[[RunsOperations], T]) -> T:
    """Run a read-only operation against the configured store, mapping its errors."""
    return _mapped(verb, lambda: op(local_operations()))


def read_inputs(value: str) -> bytes:
    """``--inputs``: inline JSON, ``-`` for stdin, or ``@file``; at most 1 MiB."""
    return read_argument(value, "--inputs", MAX_INPUTS_BYTES)


def read_argument(value: str, name: str, limit: int) -> bytes:
    """A JSON argument given inline, as ``-`` (stdin) or ``@file``; at most `limit`
    bytes. `name` (``--inputs``, ``BODY``) names it in errors (usage errors, exit 2)."""
    if value == "-":
        data = sys.stdin.buffer.read(limit + 1)
    elif value.startswith("@"):
        path = Path(value[1:])
        try:
            with path.open("rb") as f:
                data = f.read(limit + 1)
        except OSError as exc:
            raise UsageError(
                f"lightflow run: {name} {value[:200]!r}: cannot read the file ({exc.strerror})"
            ) from None
    else:
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"lightflow run: {name} is not valid UTF-8 text") from None
    if len(data) > limit:
        raise UsageError(f"lightflow run: {name} is larger than {limit} bytes")
    return data


def decode_object(data: bytes, name: str) -> dict[str, JSONValue]:
    """`data` as a JSON object, or a usage error naming `name` and what is wrong."""
    try:
        data.decode("utf-8")  # checked first: JSON's own error would name a byte, not why
        value = msgspec.json.decode(data)
    except UnicodeDecodeError:
        raise UsageError(f"lightflow run: {name} is not valid UTF-8 text") from None
    except RecursionError:
        raise UsageError(f"lightflow run: {name} is nested too deeply") from None
    except msgspec.DecodeError as exc:
        raise UsageError(f"lightflow run: {name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else f"{type(value).__name__} {value!r:.40}"
        raise UsageError(f"lightflow run: {name} must be a JSON object, not {kind}")
    return value


def _run_id(text: str) -> str:
    # Checked again by the store; refusing absurd lengths here keeps messages short.
    if len(text.encode("utf-8", "surrogateescape")) > 4 * MAX_RUN_ID_BYTES:
        raise argparse.ArgumentTypeError(
            f"run id is {len(text)} characters long; the limit is {MAX_RUN_ID_BYTES} bytes"
        )
    return text


_MODEL_HELP = (
    "the run's model for every api step: a model asset id, or the provider's own model "
    "name (e.g. gpt-4.1); recorded in the manifest and trace"
)


def _model(text: str) -> str:
    try:
        return check_model_override(text, "--model")
    except FlowError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _tenant(text: str) -> str:
    try:
        return check_tenant(text, "--tenant")
    except TenantIdError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def configure(parser: StrictParser) -> None:
    verb = parser.add_verbs("run_verb")

    preview = verb("preview", "resolve a workflow with inputs; writes nothing")
    preview.add_argument("workflow")
    preview.add_argument("--inputs", default="{}", help="JSON object, - (stdin) or @file")
    preview.add_argument("--preset", help="start from a preset's inputs")
    preview.add_argument("--model", type=_model, help=_MODEL_HELP)
    preview.set_defaults(handler=run_preview)

    create = verb("create", "create a run and drive it here until it settles")
    create.add_argument("workflow")
    create.add_argument("--id", type=_run_id, help="run id (default: generated)")
    create.add_argument("--inputs", default="{}", help="JSON object, - (stdin) or @file")
    create.add_argument("--preset", help="start from a preset's inputs")
    create.add_argument("--model", type=_model, help=_MODEL_HELP)
    create.add_argument(
        "--tenant", type=_tenant, help="the tenant the run works for (specs/tenants.md)"
    )
    create.add_argument(
        "--no-wait", action="store_true", help="only create it (planned); drive it later"
    )
    _follow_flags(create)
    create.set_defaults(handler=run_create)

    verb("list", "every run, newest first").set_defaults(handler=run_list)
    for name, summary in (
        ("get", "the run: status and every step"),
        ("status", "the run status and each step's status"),
        ("request", "what the run was created from (request.json)"),
        ("workflow", "the resolved workflow (resolved_workflow.json)"),
        ("events", "the events, one JSON line each (events.jsonl)"),
        ("trace", "the CortexFS trace, one JSON line each (trace.jsonl)"),
        ("refresh", "drive an unfinished run here until it settles"),
    ):
        sub = verb(name, summary)
        sub.add_argument("run", type=_run_id)
        sub.set_defaults(handler=run_read, read=name)

    submit = verb("submit", "submit a ready planned step now, then drive the run here")
    submit.add_argument("run", type=_run_id)
    submit.add_argument("step")
    submit.add_argument(
        "body", nargs="?", help="the request to commit: a JSON object, - (stdin) or @file"
    )
    submit.set_defaults(handler=run_submit)

    retry = verb("retry", "retry a failed run from where it failed, driving it here")
    retry.add_argument("run", type=_run_id)
    _follow_flags(retry)
    retry.set_defaults(handler=run_retry)

    watch = verb("watch", "follow a run live until it settles (exit 0/1/130)")
    watch.add_argument("run", type=_run_id)
    watch.add_argument("--json", action="store_true", help="JSON lines, not a live table")
    watch.set_defaults(handler=run_watch)

    cancel = verb("cancel", "cancel a planned or running run")
    cancel.add_argument("run", type=_run_id)
    cancel.add_argument("--reason", default="cancelled from the command line")
    cancel.set_defaults(handler=run_cancel)


def _follow_flags(parser: StrictParser) -> None:
    parser.add_argument(
        "--follow", action="store_true", help="show the run live as it goes (like run watch)"
    )
    parser.add_argument("--json", action="store_true", help="with --follow: JSON lines")


def run_preview(args: argparse.Namespace) -> int:
    inputs = read_inputs(args.inputs)
    print_json(
        reading(
            "run preview",
            lambda ops: ops.preview(args.workflow, inputs, args.preset, args.model),
        )
    )
    return 0


def run_create(args: argparse.Namespace) -> int:
    inputs = read_inputs(args.inputs)
    _check_follow_flags("run create", args)
    if args.follow:
        if args.no_wait:
            raise UsageError("lightflow run create: --follow and --no-wait exclude each other")
        create = CreateRun(
            args.workflow, inputs, args.id, args.preset, model=args.model, tenant=args.tenant
        )
        return _follow_hosted("run create", lambda h: h.call(create), args.json)
    view = _hosting(
        "run create",
        lambda h: create_and_settle(
            h,
            args.workflow,
            inputs,
            args.id,
            args.preset,
            wait=not args.no_wait,
            model=args.model,
            tenant=args.tenant,
        ),
    )
    return _settled(view, wait=not args.no_wait)


def run_list(args: argparse.Namespace) -> int:
    print_json(reading("run list", lambda ops: ops.list_runs()))
    return 0


def run_read(args: argparse.Namespace) -> int:
    name, run_id = args.read, args.run
    verb = f"run {name}"
    if name == "refresh":
        return _settled(_hosting(verb, lambda h: refresh_and_settle(h, run_id)), wait=True)
    if name in ("events", "trace"):
        data = reading(
            verb,
            lambda ops: ops.events_ndjson(run_id) if name == "events" else ops.trace_ndjson(run_id),
        )
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    readers: dict[str, Callable[[RunsOperations], object]] = {
        "get": lambda ops: ops.get(run_id),
        "status": lambda ops: ops.status(run_id),
        "request": lambda ops: ops.request(run_id),
        "workflow": lambda ops: ops.workflow(run_id),
    }
    print_json(reading(verb, readers[name]))
    return 0


def run_submit(args: argparse.Namespace) -> int:
    body = None
    if args.body is not None:
        body = decode_object(read_argument(args.body, "BODY", MAX_BODY_BYTES), "BODY")
    view = _hosting("run submit", lambda h: submit_and_settle(h, args.run, args.step, body))
    return _settled(view, wait=True)


def run_retry(args: argparse.Namespace) -> int:
    _check_follow_flags("run retry", args)
    if args.follow:
        return _follow_hosted("run retry", lambda h: h.call(RetryRun(args.run)), args.json)
    return _settled(_hosting("run retry", lambda h: retry_and_settle(h, args.run)), wait=True)


def run_watch(args: argparse.Namespace) -> int:
    store = reading("run watch", lambda ops: ops.store)
    sink = sink_for(args.json)
    watching = follow(store, args.run, sink, idle=_not_started)
    board = _mapped("run watch", lambda: asyncio.run(watching))
    return EXIT_CODES.get(board.status, 1)


def _not_started(board: Board) -> None:
    """A watched run that has not started may be driven by nothing: say what drives it."""
    print(
        f"lightflow run watch: run {board.run_id!r} is planned and has not started; "
        f"waiting (a server drives it, or `lightflow run refresh {board.run_id}`)",
        file=sys.stderr,
        flush=True,
    )


def _check_follow_flags(verb: str, args: argparse.Namespace) -> None:
    if args.json and not args.follow:
        raise UsageError(f"lightflow {verb}: --json goes with --follow (output is JSON anyway)")


def _follow_hosted(
    verb: str, start: Callable[[RunsHosting], Awaitable[RunView]], json_mode: bool
) -> int:
    """Start driving a run here (`start` answers once it is under way), show it live until
    it settles; the exit code says how it ended (0 succeeded, 1 failed, 130 cancelled)."""
    store = reading(verb, lambda ops: ops.store)
    sink = sink_for(json_mode)

    async def work(hosting: RunsHosting) -> Board:
        view = await start(hosting)
        watcher = asyncio.ensure_future(follow(store, view.run_id, sink))
        try:
            settled = await hosting.call(AwaitSettled(view.run_id))
            if settled.status not in EXIT_CODES:
                raise CliError(
                    f"lightflow {verb}: run {view.run_id!r} stopped {settled.status} "
                    "without settling; `lightflow run watch` follows it when it goes on"
                )
            return await watcher
        finally:
            watcher.cancel()

    board = _hosting(verb, work)
    return EXIT_CODES.get(board.status, 1)


def run_cancel(args: argparse.Namespace) -> int:
    view = _hosting(
        "run cancel", lambda h: h.call(CancelRun(args.run, args.reason)), say_providers=False
    )
    print_json(view)
    return 0


def _hosting(
    verb: str, work: Callable[[RunsHosting], Awaitable[T]], *, say_providers: bool = True
) -> T:
    """Run `work` in a short-lived actor system hosting the runs, mapping its errors.
    With `say_providers`, once the work is done, one stderr line says who answered the
    run's requests (this process's providers and routes, or the server serving the tree)."""
    said: list[str] = []

    async def noted(hosting: RunsHosting) -> T:
        result = await work(hosting)
        said.append(hosting.answering())
        return result

    result = _mapped(verb, lambda: run_hosted(noted))
    if say_providers and said:
        print(f"lightflow {verb}: providers: {said[0]}", file=sys.stderr, flush=True)
    return result


def _mapped(verb: str, work: Callable[[], T]) -> T:
    """`work()`, its domain errors as CLI errors (usage or failure, by reason)."""
    try:
        return work()
    except (FlowError, RunsError) as exc:
        raise failure(f"lightflow {verb}", exc) from None
    except OSError as exc:
        raise CliError(f"lightflow {verb}: {exc}") from None


def _settled(view: RunView, *, wait: bool) -> int:
    """Print the run; exit 1 (with the first step error on stderr) unless it is fine."""
    print_json(view)
    if not wait or view.status == "succeeded":
        return 0
    errors = [f"step {s.id!r}: {s.error}" for s in view.steps if s.error]
    why = f" ({errors[0]})" if errors else ""
    print(f"lightflow run: run {view.run_id!r} is {view.status}{why}", file=sys.stderr)
    return 1
