"""The table of ``lightflow`` verb groups, in ``--help`` order.

To add a group (``assets``, ``run``, ``ctx``, ``stream``): write ``_<name>.py`` in this
folder with a ``GROUP = VerbGroup(name, summary, configure)`` (see ``_serve.py``), import
it here and add it to ``GROUPS``. Nothing else changes.
"""

from __future__ import annotations

from . import _assets, _ctx, _new, _provider, _run, _serve, _stream, _tree
from ._group import VerbGroup

GROUPS: tuple[VerbGroup, ...] = (
    _serve.GROUP,
    _tree.GROUP,
    _assets.GROUP,
    _run.GROUP,
    _ctx.GROUP,
    _stream.GROUP,
    _provider.GROUP,
    _new.GROUP,
)
