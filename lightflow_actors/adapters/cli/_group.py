"""``VerbGroup``: one entry of the ``lightflow`` command table.

A group is a top-level verb (``serve``, ``tree``; later ``assets``, ``run``, ``ctx``,
``stream``). ``configure`` receives the group's own ``StrictParser``: it adds arguments, or
sub-verbs with ``verb = parser.add_verbs(dest)``, and sets the handler with
``parser.set_defaults(handler=fn)``; ``fn(args) -> int`` is the exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from ._parser import StrictParser

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class VerbGroup:
    """A top-level verb: its name, a one-line summary for ``--help``, and its parser setup."""

    name: str
    summary: str
    configure: Callable[[StrictParser], None]


_encoder = msgspec.json.Encoder()


def print_json(value: object) -> None:
    """Write ``value`` as one line of JSON on stdout (the CLI's output contract)."""
    sys.stdout.write(_encoder.encode(value).decode() + "\n")
    sys.stdout.flush()
