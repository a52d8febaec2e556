"""The name registry: unique names (and ``via`` tuple keys) for live actors.

A name belongs to one live actor; it is released when the actor exits, so a restarted
actor can take the same name again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from ._errors import NameNotRegistered, NameTaken

if TYPE_CHECKING:
    from ._cell import Cell

RegistryKey: TypeAlias = str | tuple[str | int, ...]
"""A plain name, or a ``via`` key such as ``("session", "a1b2")``."""


class Registry:
    __slots__ = ("_extra", "_names")

    def __init__(self) -> None:
        self._names: dict[RegistryKey, Cell] = {}
        # Keys registered beside an actor's spawn name, so they can be released on exit.
        self._extra: dict[int, list[RegistryKey]] = {}

    def register(self, key: RegistryKey, cell: Cell) -> None:
        if not key or not isinstance(key, str | tuple):
            raise ValueError(f"a registry key is a non-empty str or tuple, got {key!r}")
        holder = self._names.get(key)
        if holder is not None and holder is not cell:
            raise NameTaken(str(key), holder.label)
        self._names[key] = cell
        if key != cell.name:
            self._extra.setdefault(cell.id, []).append(key)

    def unregister(self, key: RegistryKey) -> bool:
        cell = self._names.pop(key, None)
        if cell is not None and key in self._extra.get(cell.id, ()):
            self._extra[cell.id].remove(key)
        return cell is not None

    def release(self, cell: Cell) -> None:
        if cell.name is not None and self._names.get(cell.name) is cell:
            del self._names[cell.name]
        for key in self._extra.pop(cell.id, ()):
            if self._names.get(key) is cell:
                del self._names[key]

    def whereis(self, key: RegistryKey) -> Cell | None:
        return self._names.get(key)

    def lookup(self, key: RegistryKey) -> Cell:
        cell = self._names.get(key)
        if cell is None:
            raise NameNotRegistered(str(key), len(self._names))
        return cell

    def names(self) -> list[RegistryKey]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)
