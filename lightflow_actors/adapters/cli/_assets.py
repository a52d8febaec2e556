"""``lightflow assets <kind>``: list the assets of a kind, as JSON (never executes them).

Kinds: workflows, nodes, compositions, models, presets, policies. The assets folder is
``$LIGHTFLOW_ASSETS`` or the runs config's ``assets`` (default: ``assets/`` of the
package). An asset with a syntax error or bad ``METADATA`` is reported with its file and
line (exit 2).
"""

from __future__ import annotations

import argparse

from ...flow import FOLDERS
from ._group import VerbGroup, print_json
from ._parser import StrictParser
from ._run import reading


def configure(parser: StrictParser) -> None:
    parser.add_argument("kind", choices=tuple(FOLDERS), help="which assets to list")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    kind: str = args.kind
    print_json(reading(f"assets {kind}", lambda ops: ops.assets(kind)))
    return 0


GROUP = VerbGroup("assets", "list workflows, nodes, compositions, models, ...", configure)
