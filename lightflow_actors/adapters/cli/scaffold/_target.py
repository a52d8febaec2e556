"""The project a generator writes into: the folder with ``pyproject.toml`` and its package.

``lightflow new live|workflow|node|provider`` run inside a project made by ``lightflow
new project`` (or any uv project with a ``src/<package>`` folder). The package is
``[tool.lightflow] package`` of ``pyproject.toml``, else the project's name with ``-``
as ``_``; it is checked like any generator name, so a hostile ``pyproject.toml`` cannot
send files outside the project.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ._errors import GeneratorInputError
from ._names import Name, check_name


@dataclass(frozen=True)
class Project:
    """A project folder and the name of its package under ``src/``."""

    root: Path
    package: Name

    @property
    def package_dir(self) -> str:
        """The package's folder relative to `root` (``src/<package>``)."""
        return f"src/{self.package.module}"


def find_project(folder: Path) -> Project:
    """The project in `folder`, or `GeneratorInputError` saying how to make one."""
    pyproject = folder / "pyproject.toml"
    try:
        raw = pyproject.read_bytes()
    except FileNotFoundError:
        raise GeneratorInputError(
            f"{folder} has no pyproject.toml: run this inside a project made by "
            "'lightflow new project NAME' (or pass --dir PROJECT)"
        ) from None
    try:
        config = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise GeneratorInputError(f"{pyproject} is not valid TOML: {exc}") from None
    tool = config.get("tool")
    lightflow = tool.get("lightflow") if isinstance(tool, dict) else None
    package = lightflow.get("package") if isinstance(lightflow, dict) else None
    if package is None:
        project = config.get("project")
        package = project.get("name") if isinstance(project, dict) else None
    if not isinstance(package, str):
        raise GeneratorInputError(
            f'{pyproject} names no package: add [tool.lightflow] package = "NAME"'
        )
    name = check_name(package.lower(), f"the package named by {pyproject}")
    found = Project(folder, Name(name.module))
    if not (folder / found.package_dir).is_dir():
        raise GeneratorInputError(
            f"{folder / found.package_dir} is not a folder: the generators write the "
            "project's code under src/<package>"
        )
    return found
