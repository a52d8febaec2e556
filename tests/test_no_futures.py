"""No future travels inside a message (DESIGN §9, STYLE habit 12), checked on the types.

Every msgspec struct the package defines (messages, records, handles) is walked: none may
name a future anywhere in a field's type, nor in the reply type ``R`` of an ``Ask[R]``.
Replies go through the kernel: return a value, defer the reply, or refuse.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import pkgutil
import typing
from collections.abc import Iterator

import msgspec

import lightflow_actors
from lightflow_actors.kernel import Ask

FUTURES = (asyncio.Future, concurrent.futures.Future)


def package_structs() -> list[type[msgspec.Struct]]:
    """Every msgspec struct class defined in a module of the package, once."""
    found: dict[type, None] = {}
    for info in pkgutil.walk_packages(lightflow_actors.__path__, "lightflow_actors."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, msgspec.Struct)
                and value.__module__.startswith("lightflow_actors.")
            ):
                found[value] = None
    return list(found)


def types_of(cls: type) -> Iterator[object]:
    """The field types of ``cls`` and, for an ``Ask[R]``, its reply type ``R``."""
    try:
        yield from typing.get_type_hints(cls).values()
    except NameError:
        # A name imported only for type checking: read the annotations as written.
        for klass in cls.__mro__:
            yield from vars(klass).get("__annotations__", {}).values()
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            origin = typing.get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Ask):
                yield from typing.get_args(base)


def names_a_future(tp: object, depth: int = 0) -> bool:
    if isinstance(tp, str):
        return "Future" in tp
    origin = typing.get_origin(tp) or tp
    if isinstance(origin, type) and issubclass(origin, FUTURES):
        return True
    return depth < 10 and any(names_a_future(arg, depth + 1) for arg in typing.get_args(tp))


def test_the_walk_sees_the_messages() -> None:
    names = {cls.__qualname__ for cls in package_structs()}
    assert {"CreateRun", "Read", "AwaitSettled", "Call", "Operate", "Operation"} <= names
    assert len(names) > 100


def test_no_struct_of_the_package_carries_a_future() -> None:
    offenders = [
        f"{cls.__module__}.{cls.__qualname__}: {tp}"
        for cls in package_structs()
        for tp in types_of(cls)
        if names_a_future(tp)
    ]
    assert offenders == []


def test_the_check_catches_a_future() -> None:
    class Smuggler(Ask[asyncio.Future[int]], frozen=True):
        done: asyncio.Future[str] | None = None

    assert [names_a_future(tp) for tp in types_of(Smuggler)] == [True, True]
