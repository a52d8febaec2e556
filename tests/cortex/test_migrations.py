"""Versioned record files (`lightflow_actors.cortex.upgrade`, `migrations_of`): a store's
file of an older version comes up through its migrations in order, one at the latest
version is left alone, one a newer app wrote is refused; broken migrations and hostile
documents are refused with `MigrationError` naming what is wrong. The last tests run a
store the json generator writes, with a migration the migration generator writes: the
step is applied when the store reads its file."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.cli.scaffold import (
    Project,
    check_name,
    parse_fields,
    plan_json,
    plan_migration,
    plan_project,
    write_planned,
)
from lightflow_actors.cortex import (
    Migration,
    MigrationError,
    NewerRecordsError,
    latest,
    migrations_of,
    upgrade,
)

pytestmark = pytest.mark.anyio

STEP = """
from typing import Any, Final
STORE: Final = {store!r}
VERSION: Final = {version}
def migrate(record: dict[str, Any]) -> dict[str, Any]:
{body}
"""


@pytest.fixture
def package(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A fresh importable package (its name unique to the test) for migration modules."""
    name = f"migrations_{tmp_path.name.replace('-', '_')}"
    folder = tmp_path / "src" / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        yield name, folder
    finally:
        sys.path.remove(str(tmp_path / "src"))
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]


def step(folder: Path, store: str, version: int, body: str, name: str = "step") -> None:
    module = f"{store.replace('-', '_')}_{version:04d}_{name}.py"
    (folder / module).write_text(STEP.format(store=store, version=version, body=body))
    importlib.invalidate_caches()


def test_steps_run_in_order_from_the_files_version(package: tuple[str, Path]) -> None:
    name, folder = package
    step(folder, "order-lines", 2, "    return {**record, 'n': record['n'] * 10}", "times")
    step(folder, "order-lines", 1, "    return {**record, 'n': record['n'] + 1}", "plus")
    step(folder, "other", 1, "    raise ValueError('not this store')")
    steps = migrations_of(name, "order-lines")
    assert [m.version for m in steps] == [1, 2] and latest(steps) == 2
    doc = {"next_id": 5, "entries": [{"id": 4, "line": {"n": 1}}, {"id": 3, "line": {"n": 2}}]}
    new, was = upgrade(doc, steps, "order-lines")
    assert was == 0 and new["version"] == 2 and new["next_id"] == 5
    assert new["entries"] == [{"id": 4, "line": {"n": 20}}, {"id": 3, "line": {"n": 30}}]
    assert "version" not in doc and doc["entries"][0]["line"] == {"n": 1}  # not in place
    from_one, was = upgrade({"version": 1, "entries": [{"id": 1, "line": {"n": 3}}]}, steps)
    assert was == 1 and from_one["entries"] == [{"id": 1, "line": {"n": 30}}]
    same, was = upgrade(new, steps)
    assert same is new and was == 2
    with pytest.raises(NewerRecordsError, match="version 3, newer than this app's 2"):
        upgrade({"version": 3, "entries": []}, steps, "order-lines")
    assert migrations_of(name, "nobody") == () and migrations_of("no_such_package_x", "a") == ()


def test_broken_migrations_are_refused_naming_the_module(package: tuple[str, Path]) -> None:
    name, folder = package
    step(folder, "notes", 2, "    return record")
    with pytest.raises(MigrationError, match="version 1 is missing"):
        migrations_of(name, "notes")
    (folder / "notes_0002_step.py").unlink()
    (folder / "notes_0001_bad.py").write_text(
        "STORE = 'notes'\nVERSION = 2\ndef migrate(r): return r\n"
    )
    importlib.invalidate_caches()
    with pytest.raises(MigrationError, match="notes_0001_bad: VERSION must be 1"):
        migrations_of(name, "notes")
    (folder / "notes_0001_bad.py").write_text("STORE = 'notez'\nVERSION = 1\nmigrate = 3\n")
    sys.modules.pop(f"{name}.notes_0001_bad", None)
    with pytest.raises(MigrationError, match="STORE must be 'notes'"):
        migrations_of(name, "notes")


def test_a_step_that_fails_or_returns_no_record_is_refused_naming_the_entry() -> None:
    def needs_title(record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "title": record["title"].upper()}

    def loses_it(record: dict[str, Any]) -> Any:
        return [record]

    doc = {"entries": [{"id": 1, "note": {"title": "a"}}, {"id": 7, "note": {"body": "x"}}]}
    with pytest.raises(MigrationError, match="version 1 failed on entry 7: KeyError"):
        upgrade(doc, [Migration("notes", 1, needs_title)], "notes")
    with pytest.raises(MigrationError, match="not a record"):
        upgrade(doc, [Migration("notes", 1, loses_it)], "notes")


@pytest.mark.parametrize(
    "document",
    [
        [],
        "x",
        None,
        {"version": -1},
        {"version": "1"},
        {"version": True},
        {"version": 10**6},
        {"entries": {}},
        {"entries": [1]},
        {"entries": [[{"id": 1}]]},
    ],
)
def test_documents_of_the_wrong_shape_are_refused(document: object) -> None:
    with pytest.raises(MigrationError):
        upgrade(document, [Migration("s", 1, dict)], "s")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=60, deadline=None)
@given(document=JSON | st.dictionaries(st.sampled_from(["version", "entries", "x"]), JSON))
def test_any_json_document_upgrades_or_is_refused_with_a_migration_error(document: object) -> None:
    try:
        new, was = upgrade(document, [Migration("s", 1, lambda r: {**r, "seen": True})], "s")
    except MigrationError:
        return
    assert new["version"] == 1 and was in (0, 1)
    msgspec.json.encode(new)  # still a JSON document


def test_deeply_nested_records_are_carried_through() -> None:
    deep: Any = 1
    for _ in range(500):
        deep = {"d": deep}
    new, _ = upgrade({"entries": [{"id": 1, "r": deep}]}, [Migration("s", 1, dict)], "s")
    assert new["entries"][0]["r"] == deep


# -- a generated store reads its file through the generated migration ---------------


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A project (package unique to the test) with ``new json notes title:str`` and
    ``new migration shout-titles --store notes``, its src on sys.path."""
    package = f"shop_{tmp_path.name.replace('-', '_')}"[:40].rstrip("_")
    name = check_name(package, "p")
    root = tmp_path / "shop"
    write_planned(root, plan_project(name, root))
    project = Project(root, name)
    notes = check_name("notes", "n")
    write_planned(root, plan_json(notes, parse_fields(["title:str"]), project), force=True)
    write_planned(root, plan_migration(check_name("shout-titles", "m"), notes, project))
    module = root / "src" / name.module / "migrations" / "notes_0001_shout_titles.py"
    text = module.read_text().replace(
        "    return dict(record)", '    return {**record, "title": record["title"].upper()}'
    )
    module.write_text(text)
    sys.path.insert(0, str(root / "src"))
    try:
        yield name.module, root
    finally:
        sys.path.remove(str(root / "src"))
        for loaded in [m for m in sys.modules if m.split(".")[0] == name.module]:
            del sys.modules[loaded]


async def test_a_generated_store_applies_the_migration_when_it_reads_its_file(
    generated: tuple[str, Path], tmp_path: Path
) -> None:
    package, _ = generated
    api = importlib.import_module(f"{package}.api.notes")
    folder = tmp_path / "state"
    folder.mkdir()
    file = folder / api.FILE
    old = {"next_id": 3, "entries": [{"id": 1, "note": {"title": "hello"}}]}
    file.write_bytes(msgspec.json.encode(old))
    async with ActorSystem("migrated-store") as system:
        store = await api.start_notes_api(system, folder)
        entry = await store.ask(api.Get(1))
        assert entry is not None and entry.note.title == "HELLO"
        created = await store.ask(api.Create(api.Note(title="new")))
        assert created is not None and created.id == 3  # the next id survived
    saved = msgspec.json.decode(file.read_bytes())
    assert saved["version"] == 1 and saved["entries"][0]["note"]["title"] == "HELLO"
    assert msgspec.json.decode((folder / f"{api.FILE}.v0").read_bytes()) == old  # kept


async def test_a_generated_store_refuses_a_file_from_a_newer_app_and_leaves_it(
    generated: tuple[str, Path], tmp_path: Path
) -> None:
    package, _ = generated
    api = importlib.import_module(f"{package}.api.notes")
    folder = tmp_path / "state"
    folder.mkdir()
    newer = msgspec.json.encode({"version": 2, "entries": [{"id": 1, "note": {"title": "x"}}]})
    (folder / api.FILE).write_bytes(newer)
    with pytest.raises(NewerRecordsError):
        api._read(folder)
    assert (folder / api.FILE).read_bytes() == newer and not (folder / f"{api.FILE}.bad").exists()
