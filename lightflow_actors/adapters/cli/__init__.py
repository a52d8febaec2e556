"""The ``lightflow`` command line: a table of verb groups, each in its own module.

``main(argv)`` parses strictly (unknown, duplicate or abbreviated flags, missing values,
extra arguments: one line on stderr, exit 2), runs the verb, and returns its exit code.
Add a verb group by adding a module and one line to ``_groups.GROUPS`` (the module is
imported only when its verb runs).
"""

from ._errors import CliError, UsageError
from ._group import Handler, VerbGroup, print_json
from ._groups import GROUPS
from ._main import build_parser, main
from ._parser import StrictParser

__all__ = [
    "GROUPS",
    "CliError",
    "Handler",
    "StrictParser",
    "UsageError",
    "VerbGroup",
    "build_parser",
    "main",
    "print_json",
]
