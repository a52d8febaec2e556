"""Versioned record files: migrations applied when a store reads its file.

The stores ``lightflow new json|html`` generate keep their records in one JSON file
(``{"version": N, "next_id": ..., "entries": [{"id": 1, "<record>": {...}}, ...]}``; a
file without ``version`` is version 0). ``lightflow new migration NAME --store STORE``
writes a module ``<package>.migrations.<store>_<NNNN>_<name>`` holding::

    STORE: Final = "products"
    VERSION: Final = 2          # the version it writes; it reads version 1

    def migrate(record: Record) -> Record: ...   # one record of version 1 -> 2

`migrations_of` finds a store's steps (sorted by version, which must run 1, 2, 3...
without a gap); `upgrade` runs the steps a document needs on each entry's record and
sets its version. A document newer than the last step (written by a newer version of
the app) is refused with `NewerRecordsError`, never set aside: the app must not drop
what a newer version wrote. Anything else wrong is a `MigrationError` naming the
store, the version and the entry.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

Record: TypeAlias = dict[str, Any]
"""One record as its store's file holds it (a JSON object)."""

Step: TypeAlias = Callable[[Record], Record]

_MODULE: Final = re.compile(r"(?P<store>[a-z][a-z0-9_]*?)_(?P<version>\d{4})_[a-z0-9_]+")
MAX_VERSION: Final = 9999


class MigrationError(ValueError):
    """A store's file or its migrations are not what `upgrade` can work with."""


class NewerRecordsError(MigrationError):
    """The file was written by a newer version of the app (its version is past the
    last migration this one has): it is left as it is."""


@dataclass(frozen=True)
class Migration:
    """One step of `store`: `migrate` turns a record of `version - 1` into `version`."""

    store: str
    version: int
    migrate: Step
    name: str = ""


def migrations_of(package: str, store: str) -> tuple[Migration, ...]:
    """The migrations of `store` in `package` (``"shop.migrations"``), by version; ()
    when the package does not exist. A module whose ``STORE``, ``VERSION`` or
    ``migrate`` is missing or wrong, or versions that do not run 1, 2, 3... raise
    `MigrationError` naming the module."""
    try:
        root = importlib.import_module(package)
    except ModuleNotFoundError as error:
        if error.name is not None and package.startswith(error.name):
            return ()
        raise
    found: list[Migration] = []
    for info in pkgutil.iter_modules(getattr(root, "__path__", [])):
        match = _MODULE.fullmatch(info.name)
        if match is None or match.group("store") != store.replace("-", "_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        name = f"{package}.{info.name}"
        declared, version, migrate = (
            getattr(module, "STORE", None),
            getattr(module, "VERSION", None),
            getattr(module, "migrate", None),
        )
        if declared != store or not callable(migrate):
            raise MigrationError(
                f"migration {name}: STORE must be {store!r} and migrate a function"
            )
        if type(version) is not int or version != int(match.group("version")):
            raise MigrationError(
                f"migration {name}: VERSION must be {int(match.group('version'))}, "
                "the number in its file name"
            )
        found.append(Migration(store, version, migrate, name))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migrations of {store!r}: version {expected} is missing before "
                f"{migration.name} (versions run 1, 2, 3, ... without a gap)"
            )
    return tuple(found)


def latest(migrations: Sequence[Migration]) -> int:
    """The version a store writes: that of its last migration (0 without any)."""
    return migrations[-1].version if migrations else 0


def upgrade(
    document: object, migrations: Sequence[Migration], store: str = "the store"
) -> tuple[dict[str, Any], int]:
    """`document` (a decoded store file) brought to the latest version, and the
    version it had. Each entry's record (its one object besides ``id``) goes through
    the steps from its version on; a document already at the latest version comes back
    as it is."""
    if not isinstance(document, dict):
        raise MigrationError(f"{store}: the file holds {type(document).__name__}, not an object")
    version = document.get("version", 0)
    if type(version) is not int or not 0 <= version <= MAX_VERSION:
        raise MigrationError(f"{store}: version {version!r} is not a whole number 0-{MAX_VERSION}")
    last = latest(migrations)
    if version > last:
        raise NewerRecordsError(
            f"{store}: the file is version {version}, newer than this app's {last}: it was "
            "written by a newer version of the app; run that one, or add its migrations"
        )
    if version == last:
        return document, version
    entries = document.get("entries", [])
    if not isinstance(entries, list):
        raise MigrationError(f"{store}: entries is {type(entries).__name__}, not a list")
    upgraded = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise MigrationError(f"{store}: entry {position} is not an object")
        entry = dict(entry)
        for key, value in list(entry.items()):
            if key == "id" or not isinstance(value, dict):
                continue
            record: Record = value
            for migration in migrations[version:]:
                try:
                    record = migration.migrate(dict(record))
                except (KeyError, TypeError, ValueError) as error:
                    raise MigrationError(
                        f"{store}: migration to version {migration.version} failed on entry "
                        f"{entry.get('id', position)!r}: {type(error).__name__}: {error}"
                    ) from error
                if not isinstance(record, dict):
                    raise MigrationError(
                        f"{migration.name or store}: migrate returned "
                        f"{type(record).__name__}, not a record (a dict)"
                    )
            entry[key] = record
        upgraded.append(entry)
    return {**document, "version": last, "entries": upgraded}, version
