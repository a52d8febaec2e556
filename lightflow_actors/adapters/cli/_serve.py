"""``lightflow serve``: the operator server on Hypercorn (127.0.0.1:5174 by default).

Prints one JSON line when it accepts connections (``{"url": ..., "port": ...}``) and one
when it has stopped (``{"stopped": true, "actors_left": 0}``). ``--demo`` starts a small
demo supervision tree to look at. Beyond loopback, a token is required (exit 2 without).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from starlette.routing import Mount

from ...kernel import ActorSystem
from ..http import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    TOKEN_ENV,
    PartSource,
    RootLink,
    ServeOptions,
    ServeRefused,
    ServerPart,
    check_bind,
    run_server,
)
from ._errors import CliError, UsageError
from ._group import VerbGroup, print_json
from ._parser import StrictParser, non_empty, positive_port

PartFactory = Callable[[ServeOptions], PartSource]


def live_examples(options: ServeOptions) -> PartSource:
    """The example live views under ``/live`` (counter, chat, 1 000-row table)."""

    def build(system: ActorSystem) -> ServerPart:
        from ...live import LiveHub, LiveRoutes
        from ...live.examples import example_views, start_ticker

        hub = LiveHub(system, example_views(system), name="live")
        routes = LiveRoutes(hub, allowed_origins=options.allowed_origins)

        async def start(system: ActorSystem) -> None:
            await hub.start()
            await start_ticker(system)

        return ServerPart(
            routes=(Mount("/live", routes=routes.routes),),
            links=tuple(
                RootLink(title, f"live/{view}", text)
                for view, title, text in (
                    ("counter", "Live counter", "a live view: click, and only a patch is sent"),
                    ("chat", "Live chat", "pubsub and presence across browser tabs"),
                    ("table", "Live table", "1 000 rows updated by a ticking actor"),
                )
            ),
            on_startup=start,
        )

    return build


def runs_api(options: ServeOptions) -> PartSource:
    """The workflow-runs API (DESIGN §7), MCP and runtime streams; resumes unfinished runs."""
    from ..runs import runs_part

    return runs_part(token=options.token, allowed_origins=options.allowed_origins)


PARTS: tuple[PartFactory, ...] = (runs_api, live_examples)
"""What ``lightflow serve`` serves besides the operator API, in startup order: each entry
builds its area's ``ServerPart`` (routes, root-page links, startup hook) from the options.
To serve the runs API or the live views, add their factory here."""


def configure(parser: StrictParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, type=non_empty, help="address to bind")
    parser.add_argument(
        "--port", default=DEFAULT_PORT, type=positive_port, help="port (0: any free port)"
    )
    parser.add_argument(
        "--token",
        type=non_empty,
        help=f"bearer token for actions and the event stream (default: ${TOKEN_ENV})",
    )
    parser.add_argument(
        "--demo", action="store_true", help="start a small demo supervision tree to observe"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    token: str | None = args.token
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    options = ServeOptions(host=args.host, port=args.port, token=token, demo=args.demo)
    try:
        check_bind(options.host, options.token)
    except ServeRefused as exc:
        raise UsageError(f"lightflow serve: {exc}") from None
    from ..runs import RunsConfigError

    try:
        parts = [make(options) for make in PARTS]
    except RunsConfigError as exc:
        raise UsageError(f"lightflow serve: {exc}") from None
    try:
        run_server(options, print_json, parts)
    except OSError as exc:
        raise CliError(f"lightflow serve: cannot serve on {args.host}:{args.port}: {exc}") from None
    return 0


GROUP = VerbGroup(
    "serve", "run the server: operator API and observer, runs API and MCP, live views", configure
)
