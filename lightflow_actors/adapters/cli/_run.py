"""``lightflow run``: preview, create and drive workflow runs; read their files.

Runs are reached in-process (no server needed, the embedded defaults work on a fresh
machine): reading verbs read the run store; ``create``, ``submit`` and ``refresh`` host the
run in a short-lived actor system (run actor, CortexFS client and, unless a server already
serves the tree, the embedded substrate) until it settles, then print it. ``cancel`` writes
the cancel through the store; a server driving the run notices at its next write.

Exit codes: 0 done (for ``create``/``submit``/``refresh``: the run succeeded); 1 the run
failed or was cancelled, or the run/step/asset does not exist, or a conflict; 2 a usage
error or invalid input (bad run id, inputs that are not a JSON object of the workflow's
fields, a template of the wrong type, an asset with a syntax error).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from lightflow_actors.host import (
    RunsHosting,
    create_and_settle,
    local_operations,
    refresh_and_settle,
    run_hosted,
    submit_and_settle,
)
from lightflow_actors.runs import CancelRun, RunsError, RunsOperations

from ...flow import MAX_RUN_ID_BYTES, FlowError, RunView
from ._errors import CliError, UsageError, failure
from ._group import VerbGroup, print_json
from ._parser import StrictParser

T = TypeVar("T")
MAX_INPUTS_BYTES = 1 << 20


def reading(verb: str, op: Callable[[RunsOperations], T]) -> T:
    """Run a read-only operation against the configured store, mapping its errors."""
    try:
        return op(local_operations())
    except (FlowError, RunsError) as exc:
        raise failure(f"lightflow {verb}", exc) from None
    except OSError as exc:
        raise CliError(f"lightflow {verb}: {exc}") from None


def read_inputs(value: str) -> bytes:
    """``--inputs``: inline JSON, ``-`` for stdin, or ``@file``; at most 1 MiB."""
    if value == "-":
        data = sys.stdin.buffer.read(MAX_INPUTS_BYTES + 1)
    elif value.startswith("@"):
        path = Path(value[1:])
        try:
            with path.open("rb") as f:
                data = f.read(MAX_INPUTS_BYTES + 1)
        except OSError as exc:
            raise UsageError(
                f"lightflow run: --inputs {value[:200]!r}: cannot read the file ({exc.strerror})"
            ) from None
    else:
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError("lightflow run: --inputs is not valid UTF-8 text") from None
    if len(data) > MAX_INPUTS_BYTES:
        raise UsageError(f"lightflow run: --inputs is larger than {MAX_INPUTS_BYTES} bytes")
    return data


def _run_id(text: str) -> str:
    # Checked again by the store; refusing absurd lengths here keeps messages short.
    if len(text.encode("utf-8", "surrogateescape")) > 4 * MAX_RUN_ID_BYTES:
        raise argparse.ArgumentTypeError(
            f"run id is {len(text)} characters long; the limit is {MAX_RUN_ID_BYTES} bytes"
        )
    return text


def configure(parser: StrictParser) -> None:
    verb = parser.add_verbs("run_verb")

    preview = verb("preview", "resolve a workflow with inputs; writes nothing")
    preview.add_argument("workflow")
    preview.add_argument("--inputs", default="{}", help="JSON object, - (stdin) or @file")
    preview.add_argument("--preset", help="start from a preset's inputs")
    preview.set_defaults(handler=run_preview)

    create = verb("create", "create a run and drive it here until it settles")
    create.add_argument("workflow")
    create.add_argument("--id", type=_run_id, help="run id (default: generated)")
    create.add_argument("--inputs", default="{}", help="JSON object, - (stdin) or @file")
    create.add_argument("--preset", help="start from a preset's inputs")
    create.add_argument(
        "--no-wait", action="store_true", help="only create it (planned); drive it later"
    )
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
    submit.set_defaults(handler=run_submit)

    cancel = verb("cancel", "cancel a planned or running run")
    cancel.add_argument("run", type=_run_id)
    cancel.add_argument("--reason", default="cancelled from the command line")
    cancel.set_defaults(handler=run_cancel)


def run_preview(args: argparse.Namespace) -> int:
    inputs = read_inputs(args.inputs)
    print_json(reading("run preview", lambda ops: ops.preview(args.workflow, inputs, args.preset)))
    return 0


def run_create(args: argparse.Namespace) -> int:
    inputs = read_inputs(args.inputs)
    view = _hosting(
        "run create",
        lambda h: create_and_settle(
            h, args.workflow, inputs, args.id, args.preset, wait=not args.no_wait
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
    view = _hosting("run submit", lambda h: submit_and_settle(h, args.run, args.step))
    return _settled(view, wait=True)


def run_cancel(args: argparse.Namespace) -> int:
    view = _hosting("run cancel", lambda h: h.call(CancelRun(args.run, args.reason)))
    print_json(view)
    return 0


def _hosting(verb: str, work: Callable[[RunsHosting], Awaitable[RunView]]) -> RunView:
    try:
        return run_hosted(work)
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


GROUP = VerbGroup("run", "preview, create, drive and inspect workflow runs", configure)
