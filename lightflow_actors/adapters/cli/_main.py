"""``lightflow``: build the parser from the group table, dispatch, map errors to exit codes.

Exit codes: 0 done; 1 the work failed (message on stderr); 2 usage error (one line on
stderr). Output is JSON on stdout, except where a verb renders for a terminal (``tree``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._errors import CliError
from ._group import Handler, VerbGroup
from ._groups import GROUPS
from ._parser import StrictParser


def build_parser(groups: Sequence[VerbGroup] = GROUPS) -> StrictParser:
    """The ``lightflow`` parser with one sub-parser per group; a group's ``configure`` runs
    (and imports its module) only when its verb is parsed or its help printed."""
    parser = StrictParser(
        prog="lightflow",
        description="lightflow-actors: an asyncio actor runtime modelled on Erlang/OTP.",
    )
    verb = parser.add_verbs("verb")
    for group in groups:
        verb(group.name, group.summary).configure_when_used(group.configure)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lightflow`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        handler: Handler = args.handler
        return handler(args)
    except CliError as exc:
        print(" ".join(str(exc).split()), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
