"""The table of ``lightflow`` verb groups, in ``--help`` order.

Each entry names its module (``_<name>.py`` in this folder, with a
``configure(parser: StrictParser)``); the module is imported only when its verb is parsed
or its help printed, so ``lightflow tree`` does not import the host, MCP or the runs
(dispatch, not a layering escape: every module here is in this layer). To add a group,
write the module and add one line here. Nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from ._group import VerbGroup
from ._parser import StrictParser


def verbs_of(module: str) -> Callable[[StrictParser], None]:
    """The ``configure`` of this package's ``module``, imported when first called."""

    def configure(parser: StrictParser) -> None:
        configure_group: Callable[[StrictParser], None] = import_module(
            f"{__package__}.{module}"
        ).configure
        configure_group(parser)

    return configure


GROUPS: tuple[VerbGroup, ...] = (
    VerbGroup(
        "serve",
        "run the server: operator API and observer, runs API and MCP, live views",
        verbs_of("_serve"),
    ),
    VerbGroup("tree", "print a running server's supervision tree", verbs_of("_tree")),
    VerbGroup("assets", "list workflows, nodes, compositions, models, ...", verbs_of("_assets")),
    VerbGroup("run", "preview, create, drive and inspect workflow runs", verbs_of("_run")),
    VerbGroup("ctx", "paths of the CortexFS tree (/ctx) the runs use", verbs_of("_ctx")),
    VerbGroup("stream", "LFRS runtime frames: format, schema, run snapshots", verbs_of("_stream")),
    VerbGroup("provider", "add, list, test and remove real model providers", verbs_of("_provider")),
    VerbGroup(
        "new",
        "generate a project, a live view, a JSON API, HTML pages, auth, a workflow, node, provider",
        verbs_of("_new"),
    ),
)
