"""``lightflow assets <kind>``: list the assets of a kind, as JSON (never executes them).

Kinds: workflows, nodes, compositions, models, presets, policies. The assets are the runs
config's ``assets`` folder (default: ``assets/`` of the package) plus the folders of
``$LIGHTFLOW_ASSETS``, whose ids shadow it (each asset's ``root`` says where it came
from). Prints ``{"assets": [...], "problems": [...]}``: a file of that kind with a syntax
error or bad ``METADATA`` is a problem (file, line, failure) beside the good
assets, and is also named on stderr; the listing still exits 0.
"""

from __future__ import annotations

import argparse
import sys

from ...flow import FOLDERS
from ._group import print_json
from ._parser import StrictParser
from ._run import reading


def configure(parser: StrictParser) -> None:
    parser.add_argument("kind", choices=tuple(FOLDERS), help="which assets to list")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    kind: str = args.kind
    listing = reading(f"assets {kind}", lambda ops: ops.assets(kind))
    print_json(listing)
    for problem in listing.problems:
        print(f"lightflow assets: skipped {problem.error} [{problem.failure}]", file=sys.stderr)
    return 0
