"""``lightflow stream info|schema|snapshot``: the LFRS runtime frames of runs.

- ``info [<run>]``: the frame format and where each run's snapshot and live stream are
  served (paths relative to a server's root); with a run, that run only.
- ``schema``: the FlatBuffers schema (``--raw`` prints the ``.fbs`` text as it is).
- ``snapshot <run>``: the run's ``RunSnapshot`` frame, the raw FlatBuffer on stdout
  (``lightflow stream snapshot RUN > run.fb``; refused when stdout is a terminal);
  ``--json`` prints it decoded, with the buffer in base64; ``--out FILE`` writes the
  buffer (atomically) and prints where, as JSON.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
from pathlib import Path

import msgspec

from lightflow_actors.flow.streams import (
    FILE_IDENTIFIER,
    RUNTIME_FBS,
    decode_runtime_frame,
    run_stream_info,
)

from ._errors import CliError, UsageError
from ._group import print_json
from ._parser import StrictParser
from ._run import _run_id, reading


class SchemaOut(msgspec.Struct, frozen=True):
    file_identifier: str
    namespace: str
    root_type: str
    schema: str


class SnapshotOut(msgspec.Struct, frozen=True):
    run_id: str
    kind: str
    status: str
    sequence: int
    timestamp_unix_ms: int
    bytes: int
    payload: object
    frame_base64: str | None = None
    path: str | None = None


def configure(parser: StrictParser) -> None:
    verb = parser.add_verbs("stream_verb")

    info = verb("info", "the frame format and each run's stream")
    info.add_argument("run", nargs="?", type=_run_id)
    info.set_defaults(handler=run_info)
    schema = verb("schema", "the FlatBuffers schema of the frames (runtime.fbs)")
    schema.add_argument("--raw", action="store_true", help="print the .fbs text, not JSON")
    schema.set_defaults(handler=run_schema)
    snapshot = verb("snapshot", "a run's RunSnapshot frame")
    snapshot.add_argument("run", type=_run_id)
    snapshot.add_argument("--out", help="write the FlatBuffer to this file")
    snapshot.add_argument(
        "--json", action="store_true", help="print the frame decoded, the buffer in base64"
    )
    snapshot.set_defaults(handler=run_snapshot)


def run_info(args: argparse.Namespace) -> int:
    run_id: str | None = args.run
    if run_id is None:
        print_json(reading("stream info", lambda ops: ops.streams()))
    else:
        print_json(run_stream_info(reading("stream info", lambda ops: ops.get(run_id))))
    return 0


def run_schema(args: argparse.Namespace) -> int:
    if args.raw:
        sys.stdout.write(RUNTIME_FBS)
        sys.stdout.flush()
        return 0
    print_json(
        SchemaOut(
            file_identifier=FILE_IDENTIFIER.decode(),
            namespace="lightflow.runtime",
            root_type="RuntimeFrame",
            schema=RUNTIME_FBS,
        )
    )
    return 0


def run_snapshot(args: argparse.Namespace) -> int:
    run_id: str = args.run
    raw = not args.json and args.out is None
    if raw and sys.stdout.isatty():
        raise UsageError(
            "lightflow stream snapshot: stdout is a terminal and the frame is binary; "
            "redirect it (`> run.fb`), or give --out FILE or --json"
        )
    data = reading("stream snapshot", lambda ops: ops.snapshot(run_id))
    if raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    frame = decode_runtime_frame(data)
    out = SnapshotOut(
        run_id=frame.run_id,
        kind=frame.kind.name,
        status=frame.status,
        sequence=frame.sequence,
        timestamp_unix_ms=frame.timestamp_unix_ms,
        bytes=len(data),
        payload=frame.payload(),
    )
    if args.out is None:
        out = msgspec.structs.replace(out, frame_base64=base64.b64encode(data).decode())
    else:
        path = Path(args.out)
        _write_file(path, data)
        out = msgspec.structs.replace(out, path=str(path))
    print_json(out)
    return 0


def _write_file(path: Path, data: bytes) -> None:
    """Write atomically (temporary file, fsync, rename): never a torn snapshot file."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CliError(f"lightflow stream snapshot: cannot write {path}: {exc.strerror}") from None
