"""`lightflow serve` with the runs part, for the tests (until the lead adds it to PARTS).

    python tests/runs/_serve_runs.py [--port N] [--token T]

The real `serve` (Hypercorn, loopback Host guard, graceful SIGTERM): prints one JSON line
`{"url": ..., "port": ...}` once it accepts connections. Configuration comes from the
environment ($XDG_STATE_HOME, $LIGHTFLOW_ASSETS, $LIGHTFLOW_RUNS_CONFIG).
"""

from __future__ import annotations

import argparse

from lightflow_actors.adapters.cli import print_json
from lightflow_actors.adapters.http import ServeOptions, run_server
from lightflow_actors.host import runs_part

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token")
    args = parser.parse_args()
    options = ServeOptions(port=args.port, token=args.token, graceful_timeout=2.0)
    run_server(options, print_json, [runs_part(token=args.token)])
