"""Writing a generator's files: all or nothing, never over a user's edits.

A generator first plans every file (`Planned`: a path relative to the target folder
and its text), then `write_planned` compares each with what is on disk: a missing file
is created, an identical one left alone (re-running a generator is harmless), and one
with other contents is a *conflict*: unless ``force``, nothing at all is written and
`GeneratorConflict` lists them. A `Planned` with ``keep_existing`` (a companion file
such as the provider a new workflow calls) is never a conflict: an existing file of
that name is the user's and stays, whatever it holds.

Every path stays inside the target folder: a symlink on the way, or a file where a
folder must be, is refused rather than followed.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ._errors import GeneratorConflict, GeneratorInputError


@dataclass(frozen=True)
class Planned:
    """A file a generator wants: `path` relative to the target folder (``/``-separated)."""

    path: str
    text: str
    executable: bool = False
    keep_existing: bool = False


class Written(msgspec.Struct, frozen=True):
    """What `write_planned` did, by relative path (the ``lightflow new`` JSON output)."""

    root: str
    created: list[str] = msgspec.field(default_factory=list)
    unchanged: list[str] = msgspec.field(default_factory=list)
    overwritten: list[str] = msgspec.field(default_factory=list)
    kept: list[str] = msgspec.field(default_factory=list)
    next: list[str] = msgspec.field(default_factory=list)


@dataclass
class _Decision:
    create: list[Planned] = field(default_factory=list)
    overwrite: list[Planned] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def write_planned(root: Path, files: list[Planned], *, force: bool = False) -> Written:
    """Write `files` under `root` (created if missing) as the module docstring says."""
    decision = _Decision()
    for planned in files:
        target = _inside(root, planned.path)
        existing = _read_existing(target, planned.path)
        if existing is None:
            decision.create.append(planned)
        elif planned.keep_existing:
            decision.kept.append(planned.path)
        elif existing == planned.text.encode():
            decision.unchanged.append(planned.path)
        elif force:
            decision.overwrite.append(planned)
        else:
            decision.conflicts.append(planned.path)
    if decision.conflicts:
        raise GeneratorConflict(decision.conflicts)
    for planned in (*decision.create, *decision.overwrite):
        _write(_inside(root, planned.path), planned)
    return Written(
        root=str(root),
        created=[p.path for p in decision.create],
        unchanged=decision.unchanged,
        overwritten=[p.path for p in decision.overwrite],
        kept=decision.kept,
    )


def _inside(root: Path, relative: str) -> Path:
    """`root / relative`, refusing a component that is a symlink or not a folder."""
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts) or relative.startswith("/"):
        raise GeneratorInputError(f"planned path {relative!r} is not a plain relative path")
    current = root
    for part in parts[:-1]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(mode):
            kind = "a symlink" if stat.S_ISLNK(mode) else "not a folder"
            raise GeneratorInputError(
                f"{current} is {kind}; the generator writes only into plain folders "
                "(move it away or choose another target)"
            )
    return current / parts[-1]


def _read_existing(target: Path, relative: str) -> bytes | None:
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(mode):
        raise GeneratorInputError(
            f"{relative} exists and is not a regular file (a symlink or a folder); "
            "the generator leaves it alone: move it away first"
        )
    return target.read_bytes()


def _write(target: Path, planned: Planned) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.lightflow-new")
    temporary.write_text(planned.text, encoding="utf-8")
    if planned.executable:
        temporary.chmod(0o755)
    temporary.replace(target)
