"""Joining a generated part to the project's ``app.py``, at its marked lines only.

``app.py`` (from ``lightflow new project``) has three lists a part joins, each ending
in a marker comment: the live views (`VIEWS`), the plain HTTP routes (`ROUTES`) and
the actors started with the app (`ACTORS`). `register` adds a part's import among the
local imports (in the order ruff's import sorter wants) and its lines above the
markers, each once; an ``app.py`` without the markers (older, or edited) is left alone
and the steps to do by hand are returned instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from ._live import sort_key
from ._target import Project

VIEWS: Final = "        # lightflow new live: views go above this line"
ACTORS: Final = "    # lightflow new live: actors go above this line"
ROUTES: Final = "        # lightflow new json|html: routes go above this line"
_WHERE: Final = {VIEWS: "views()", ACTORS: "start_actors()", ROUTES: "http_routes()"}
LINE_LENGTH: Final = 100

_LOCAL_IMPORT = re.compile(r"from \.([\w.]+) import ")


def register(
    project: Project, module: str, names: list[str], lines: Mapping[str, str], done: str
) -> list[str]:
    """Import `names` from the package's `module` (``api.products``) in ``app.py`` and
    add each of `lines` above its marker; return the steps left (`done` when it worked)."""
    app = project.root / project.package_dir / "app.py"
    import_lines = import_statement(module, names)
    try:
        text = app.read_text("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        text = ""
    current = text.splitlines()
    has_imports = any(_LOCAL_IMPORT.match(line) for line in current)
    if not has_imports or not all(marker in current for marker in lines):
        steps = [f"add to {project.package_dir}/app.py: {' '.join(import_lines)}"]
        steps += [f"in {_WHERE[marker]}: {line.strip()}" for marker, line in lines.items()]
        return steps
    if import_lines[0] not in current:
        at = _import_position(current, module)
        current[at:at] = import_lines
    for marker, line in lines.items():
        if line not in current:
            current.insert(current.index(marker), line)
    new_text = "\n".join(current) + "\n"
    if new_text == text:
        return ["uv run just test"]
    app.write_text(new_text, "utf-8")
    return [done, "uv run just test"]


def import_statement(module: str, names: list[str]) -> list[str]:
    """``from .module import a, b`` as ruff formats it: one line, or one name a line in
    parentheses when the line would be longer than `LINE_LENGTH`."""
    ordered = sorted(names, key=sort_key)
    one = f"from .{module} import {', '.join(ordered)}"
    if len(one) <= LINE_LENGTH:
        return [one]
    return [f"from .{module} import (", *(f"    {name}," for name in ordered), ")"]


def _import_position(lines: list[str], module: str) -> int:
    """Where the import of `module` goes among the local ``from .X import`` lines."""
    new = _natural_key(module)
    last = -1
    for i, line in enumerate(lines):
        found = _LOCAL_IMPORT.match(line)
        if found is None:
            continue
        if _natural_key(found.group(1)) > new:
            return i
        last = i
    end = last + 1
    if lines[last].endswith("("):  # a parenthesized import: after its closing line
        while end < len(lines) and lines[end] != ")":
            end += 1
        end += 1
    return end


def _natural_key(module: str) -> tuple[str, str]:
    def natural(text: str) -> str:
        return re.sub(r"\d+", lambda digits: digits.group().zfill(20), text)

    return (natural(module.lower()), natural(module))
