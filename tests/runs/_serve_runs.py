"""A `lightflow serve` with the runs routes wired, for the tests (the lead wires the real one).

    python tests/runs/_serve_runs.py [--port N] [--token T]

Prints one JSON line `{"url": ..., "port": ...}` once it accepts connections; SIGTERM stops
it gracefully. Configuration comes from the environment ($XDG_STATE_HOME,
$LIGHTFLOW_ASSETS, $LIGHTFLOW_RUNS_CONFIG), as for `lightflow serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.http import create_app
from lightflow_actors.adapters.runs import RUNS_LINKS, RunsHosting, runs_routes


async def main(port: int, token: str | None) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    bound = sock.getsockname()[1]
    hosting = RunsHosting()

    async def started(system: ActorSystem) -> None:
        await hosting.start(system)
        print(json.dumps({"url": f"http://127.0.0.1:{bound}", "port": bound}), flush=True)

    app = create_app(
        token=token,
        routes=runs_routes(hosting, token=token),
        links=RUNS_LINKS,
        on_startup=started,
    )
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.graceful_timeout = 2.0
    sock.detach()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def trigger() -> None:
        await stop.wait()
        await app.drain()

    await serve(app, config, shutdown_trigger=trigger)  # type: ignore[arg-type]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token")
    args = parser.parse_args()
    asyncio.run(main(args.port, args.token))
    sys.exit(0)
