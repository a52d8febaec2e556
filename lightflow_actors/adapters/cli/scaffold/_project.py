"""``lightflow new project NAME``: a uv project that embeds the runtime.

The project has the app (`build_app`: live views under ``/live`` on one actor system),
a first live view, a first workflow with its provider, tests (the DSL, the app through
Starlette's client, Chromium, a run), a justfile, a CI script and a README. Its
dependency on lightflow-actors is the package by name, or a path (``runtime_path``: a
checkout, for working offline), written relative to the project so the two can move
together.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ._assets import plan_asset
from ._files import Planned
from ._names import Name
from ._target import Project
from ._templates import render


def plan_project(name: Name, root: Path, runtime_path: Path | None = None) -> list[Planned]:
    """The files of project `name` to be written in `root` (the project folder)."""
    sources = ""
    if runtime_path is not None:
        location = os.path.relpath(runtime_path.resolve(), root.resolve())
        # A JSON string without non-ASCII escapes is a TOML basic string: quotes,
        # backslashes and control characters in the path stay inside it.
        quoted = json.dumps(Path(location).as_posix(), ensure_ascii=False)
        sources = (
            f"\n[tool.uv.sources]\nlightflow-actors = {{ path = {quoted}, editable = true }}\n"
        )
    values = {"dist": name.text, "module": name.module, "title": name.title, "sources": sources}
    package = f"src/{name.module}"

    def file(path: str, template: str, *, executable: bool = False) -> Planned:
        return Planned(path, render(f"project/{template}", **values), executable=executable)

    return [
        file("pyproject.toml", "pyproject.toml.tmpl"),
        file("README.md", "README.md.tmpl"),
        file("justfile", "justfile.tmpl"),
        file(".ci/run", "ci/run.tmpl", executable=True),
        file(".gitignore", "gitignore.tmpl"),
        file(f"{package}/__init__.py", "package_init.py.tmpl"),
        file(f"{package}/__main__.py", "package_main.py.tmpl"),
        file(f"{package}/py.typed", "py.typed.tmpl"),
        file(f"{package}/app.py", "app.py.tmpl"),
        file(f"{package}/live/__init__.py", "live_init.py.tmpl"),
        file(f"{package}/live/hello.py", "hello.py.tmpl"),
        file("tests/conftest.py", "conftest.py.tmpl"),
        file("tests/browser.py", "browser.py.tmpl"),
        file("tests/test_app.py", "test_app.py.tmpl"),
        file("tests/live/test_hello.py", "test_hello.py.tmpl"),
        file("tests/live/test_hello_browser.py", "test_hello_browser.py.tmpl"),
        # A first workflow, its provider and tests: the runs half works from the start.
        *plan_asset("workflow", Name("hello"), Project(root, name)),
    ]
