"""``lightflow serve``: the operator server on Hypercorn (127.0.0.1:5174 by default).

Prints one JSON line when it accepts connections (``{"url": ..., "port": ...}``) and one
when it has stopped (``{"stopped": true, "actors_left": 0}``). ``--demo`` starts a small
demo supervision tree to look at. Beyond loopback, a token is required (exit 2 without).
``--max-connections``, ``--max-websockets`` and ``--max-ws-message-bytes`` bound what
clients can hold (503, WebSocket close 1013 and 1009 past them; specs/http.md).
``--cluster nats://HOST:PORT [--node NAME]`` joins a cluster over NATS (specs/cluster.md).
``--ctx-mount PATH`` serves the ``/ctx`` tree at PATH (directory backend); with ``--fuse``
the tree stays under the state folder and the FUSE backend mounts it at PATH (default
``/ctx``), unmounted on shutdown; a stale mount left by a killed server is cleaned first.

The token comes from ``--token-file PATH`` or ``--token`` (one or the other), else from
``$LIGHTFLOW_TOKEN``. Prefer the file or the variable: a command-line argument is readable
by every local user in ``/proc/<pid>/cmdline`` (and ``ps``) while the server runs.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from lightflow_actors.host import serve_parts
from lightflow_actors.runs import RunsConfigError

from ..http import (
    DEFAULT_HOST,
    DEFAULT_MAX_WS_MESSAGE_BYTES,
    DEFAULT_PORT,
    TOKEN_ENV,
    ServeOptions,
    ServeRefused,
    ServeStartFailed,
    check_bind,
    run_server,
)
from ._errors import CliError, UsageError
from ._group import print_json
from ._parser import StrictParser, non_empty, positive_port

NODE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def configure(parser: StrictParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, type=non_empty, help="address to bind")
    parser.add_argument(
        "--port", default=DEFAULT_PORT, type=positive_port, help="port (0: any free port)"
    )
    tokens = parser.add_mutually_exclusive_group()
    tokens.add_argument(
        "--token-file",
        metavar="PATH",
        type=Path,
        help="read the bearer token for actions, runs changes and the event stream from "
        "this file (its first line; keep it mode 0600)",
    )
    tokens.add_argument(
        "--token",
        type=non_empty,
        help=f"the bearer token itself; visible to every local user in /proc/<pid>/cmdline "
        f"and ps while the server runs: prefer --token-file or ${TOKEN_ENV} "
        f"(default: ${TOKEN_ENV})",
    )
    parser.add_argument(
        "--demo", action="store_true", help="start a small demo supervision tree to observe"
    )
    parser.add_argument(
        "--max-connections",
        type=_at_least_one,
        help="open connections at most; the next gets a 503 (default: ulimit -n less 1/8)",
    )
    parser.add_argument(
        "--max-websockets",
        type=_at_least_one,
        help="open WebSockets at most; the next is closed with 1013 (default: half the above)",
    )
    parser.add_argument(
        "--max-ws-message-bytes",
        type=_at_least_one,
        default=DEFAULT_MAX_WS_MESSAGE_BYTES,
        help="a larger WebSocket message closes the connection with 1009 (default: %(default)s)",
    )
    parser.add_argument(
        "--cluster",
        metavar="NATS_URL",
        action="append",
        type=_nats_url,
        help="join the cluster whose NATS server is NATS_URL (repeat for several servers; "
        "default: a single node, no NATS)",
    )
    parser.add_argument(
        "--node",
        type=_node_name,
        help="this node's name in the cluster (default: <hostname>-<pid>)",
    )
    parser.add_argument(
        "--run-events-max-age",
        metavar="SECONDS",
        type=_positive_seconds,
        help="with --cluster: how long the cluster keeps run events (stream LF_RUN_EVENTS; "
        "default 2592000, 30 days); keep it above the longest run",
    )
    parser.add_argument(
        "--run-events-max-bytes",
        metavar="BYTES",
        type=_at_least_one,
        help="with --cluster: how many bytes of run events the cluster keeps, the oldest "
        "dropped first (default 1073741824, 1 GiB)",
    )
    parser.add_argument(
        "--ctx-mount",
        metavar="PATH",
        type=_absolute_path,
        help="the /ctx tree at PATH (directory backend); with --fuse: where the FUSE backend "
        "mounts the tree, whose backing folder stays under the state folder",
    )
    parser.add_argument(
        "--fuse",
        action="store_true",
        help="mount the tree with the FUSE backend at --ctx-mount (default /ctx); needs "
        "/dev/fuse, libfuse3 and fusermount3",
    )
    parser.set_defaults(handler=run)


def _absolute_path(text: str) -> str:
    if not text or not os.path.isabs(text) or "\0" in text:
        raise argparse.ArgumentTypeError(f"invalid path {text!r}: expected an absolute path")
    return os.path.normpath(text)


MAX_TOKEN_FILE_BYTES = 4096


def read_token_file(path: Path) -> str:
    """The token in `path`: its first line, without surrounding whitespace (UsageError when
    the file is unreadable, empty, too large or not UTF-8)."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_TOKEN_FILE_BYTES + 1)
            mode = os.fstat(file.fileno()).st_mode
    except OSError as exc:
        raise UsageError(f"lightflow serve: cannot read --token-file {path}: {exc}") from None
    if len(raw) > MAX_TOKEN_FILE_BYTES:
        raise UsageError(
            f"lightflow serve: --token-file {path} is larger than {MAX_TOKEN_FILE_BYTES} bytes; "
            "it should hold only the token"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"lightflow serve: --token-file {path} is not UTF-8 ({exc})") from None
    lines = text.splitlines()
    token = lines[0].strip() if lines else ""
    if not token:
        raise UsageError(f"lightflow serve: --token-file {path} is empty; write the token in it")
    if stat.S_IMODE(mode) & 0o077:
        print(
            f"lightflow serve: warning: --token-file {path} is readable by other users; "
            f"chmod 600 {path}",
            file=sys.stderr,
        )
    return token


def choose_token(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """--token-file, else --token, else $LIGHTFLOW_TOKEN (they exclude each other but the
    environment variable, which only fills in)."""
    if args.token_file is not None:
        return read_token_file(args.token_file)
    if args.token is not None:
        return str(args.token)
    return environ.get(TOKEN_ENV, "").strip() or None


def run(args: argparse.Namespace) -> int:
    token = choose_token(args, os.environ)
    options = ServeOptions(
        host=args.host,
        port=args.port,
        token=token,
        demo=args.demo,
        max_connections=args.max_connections,
        max_websockets=args.max_websockets,
        max_ws_message_bytes=args.max_ws_message_bytes,
        cluster=tuple(args.cluster or ()),
        node=args.node or (f"{socket.gethostname()}-{os.getpid()}" if args.cluster else None),
        run_events_max_age_s=args.run_events_max_age,
        run_events_max_bytes=args.run_events_max_bytes,
        ctx_mount=args.ctx_mount,
        fuse=args.fuse,
    )
    try:
        check_bind(options.host, options.token)
    except ServeRefused as exc:
        raise UsageError(f"lightflow serve: {exc}") from None
    try:
        parts = serve_parts(options)
    except RunsConfigError as exc:
        raise UsageError(f"lightflow serve: {exc}") from None
    try:
        run_server(options, print_json, parts)
    except ServeStartFailed as exc:
        raise CliError(f"lightflow serve: {exc}") from None
    except OSError as exc:
        raise CliError(f"lightflow serve: cannot serve on {args.host}:{args.port}: {exc}") from None
    return 0


def _nats_url(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("nats", "tls") or not rest or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(
            f"invalid NATS URL {text!r}: expected nats://HOST:PORT (or tls://HOST:PORT)"
        )
    return text


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: seconds, more than 0")
    return value


def _node_name(text: str) -> str:
    if not NODE_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"invalid node name {text!r}: 1-64 letters, digits, '.', '_' or '-'"
        )
    return text


def _at_least_one(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {value}: expected at least 1")
    return value
