"""``lightflow new migration NAME --store STORE``: the next step of a store's records.

A store the json and html generators make saves a versioned file (``version``, 0
before any migration) and reads it through ``lightflow_actors.cortex.upgrade``, which
runs the store's migrations from ``<package>.migrations``. This generator writes the
next one: ``src/<package>/migrations/<store>_<NNNN>_<name>.py`` (NNNN one past the
store's last), its test, and the package's ``__init__`` when it has none.
"""

from __future__ import annotations

import re

from ._errors import GeneratorInputError
from ._files import Planned
from ._names import Name
from ._target import Project
from ._templates import render

_STEP = re.compile(r"(?P<store>[a-z][a-z0-9_]*?)_(?P<version>\d{4})_[a-z0-9_]+\.py")
MAX_VERSION = 9999


def plan_migration(name: Name, store: Name, project: Project) -> list[Planned]:
    """The migration module for `store`'s next version, its test, and the package."""
    folder = project.root / project.package_dir / "migrations"
    versions = [
        int(found.group("version"))
        for path in (folder.iterdir() if folder.is_dir() else ())
        if (found := _STEP.fullmatch(path.name)) and found.group("store") == store.module
    ]
    version = max(versions, default=0) + 1
    if version > MAX_VERSION:
        raise GeneratorInputError(f"store {store.text!r} has {MAX_VERSION} migrations already")
    module = f"{store.module}_{version:04d}_{name.module}"
    values = {
        "package": project.package.module,
        "store": store.text,
        "module": module,
        "version": str(version),
        "previous": str(version - 1),
        "title": name.title,
    }
    return [
        Planned(
            f"{project.package_dir}/migrations/__init__.py",
            render("migration/init.py.tmpl"),
            keep_existing=True,
        ),
        Planned(
            f"{project.package_dir}/migrations/{module}.py",
            render("migration/step.py.tmpl", **values),
        ),
        Planned(
            f"tests/migrations/test_{module}.py", render("migration/test_step.py.tmpl", **values)
        ),
    ]
