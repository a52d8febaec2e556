"""Actor definitions: the ``Actor[M]`` base class and the ``@handler`` decorator.

An actor is a plain class whose handlers are methods marked with ``@handler``; the type of a
handler's message parameter decides which messages it receives. The dispatch table is built
once per class (on first spawn), so sending a message costs one dict lookup.
"""

from __future__ import annotations

import dis
import inspect
import sys
import types
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, Never, TypeVar, Union, overload

from ._errors import InvalidActorDefinition, NotInActor
from ._messages import Ask, Down, Exit
from ._reasons import NORMAL, ExitReason

if TYPE_CHECKING:
    from ._cell import Cell
    from ._ref import ActorRef
    from ._reply import Reply
    from ._system import ActorSystem
    from ._timers import Timer

M = TypeVar("M", contravariant=True)
T = TypeVar("T")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., object])

_HANDLER_MARK = "__lightflow_handles__"
_EAGER_START_MARK = "__lightflow_eager_start__"


@overload
def handler(fn: F, /) -> F: ...
@overload
def handler(*message_types: type, eager_start: bool = False) -> Callable[[F], F]: ...
def handler(*args: object, eager_start: bool = False) -> object:
    """Mark a method as the handler of the message type in its annotation.

    ``@handler`` reads the annotation of the message parameter (a class, or a union of
    classes). ``@handler(SomeType)`` names the types explicitly, for message classes that
    annotations cannot reach (defined inside a function).

    ``@handler(eager_start=True)`` (async handlers only, ADR 0094) runs the handler on the
    actor's own step until its first real suspension, and gives it a task only then: a
    handler that does not suspend this time costs no task and no loop turn. Until that
    first suspension there is no current task (``asyncio.current_task()`` is None), so
    the handler must not use ``asyncio.timeout()``, a ``TaskGroup``, anyio or anything
    else that looks the current task up before it first awaits something pending.
    """
    if len(args) == 1 and inspect.isfunction(args[0]):
        setattr(args[0], _HANDLER_MARK, None)
        return args[0]
    for arg in args:
        if not isinstance(arg, type):
            raise InvalidActorDefinition(f"@handler(...) takes message classes, got {arg!r}")
    explicit = tuple(t for t in args if isinstance(t, type))

    def mark(fn: F) -> F:
        if eager_start and not inspect.iscoroutinefunction(fn):
            raise InvalidActorDefinition(
                f"@handler(eager_start=True) applies to async handlers; "
                f"{getattr(fn, '__qualname__', fn)!r} is not one"
            )
        setattr(fn, _HANDLER_MARK, explicit)
        if eager_start:
            setattr(fn, _EAGER_START_MARK, True)
        return fn

    return mark


# Opcodes of a suspension point (await, async for/with) in a coroutine's own code.
_SUSPENDING_OPS = frozenset(
    {"YIELD_VALUE", "SEND", "GET_AWAITABLE", "GET_AITER", "GET_ANEXT", "BEFORE_ASYNC_WITH"}
)


def never_suspends(fn: Callable[..., object]) -> bool:
    """True if ``fn`` is an ``async def`` whose body has no ``await``/``async for``/``with``.

    Such a handler can run to its end on the cell's step, without a task (ADR 0076). Any
    other object (a wrapped or non-function callable) is assumed to suspend.
    """
    code = getattr(fn, "__code__", None)
    if code is None or not inspect.iscoroutinefunction(fn):
        return False
    return not any(ins.opname in _SUSPENDING_OPS for ins in dis.get_instructions(code))


# The coroutine prologue ``flat_function`` removes: after the cell set-up, the instruction
# that makes a call of an ``async def`` return its coroutine, and the pop of that value.
_OPS = dis.opmap
_PROLOGUE_SETUP = frozenset({_OPS["COPY_FREE_VARS"], _OPS["MAKE_CELL"]})
_NOP_PAIR = bytes((_OPS["NOP"], 0, _OPS["NOP"], 0))
# Only the bytecode this was verified on: 3.12 wraps every coroutine body in a handler that
# turns StopIteration into RuntimeError and asserts (debug builds) it runs in a coroutine.
_FLATTENS = sys.version_info[:2] == (3, 11)


def flat_function(fn: Callable[..., object]) -> Callable[..., object] | None:
    """The body of an ``async def`` that never suspends, as a plain function (ADR 0106).

    Such a handler's coroutine runs to its end the moment it is started, so the coroutine
    object is pure cost: creating it and stepping it is most of what separates such a
    handler from a sync one. The plain function runs the very same code (same code lines,
    names, closure and globals; tracebacks are unchanged), with the two prologue
    instructions that make a coroutine of the call turned into no-ops and the coroutine
    flag cleared. None when ``fn`` is not such a handler, when its prologue is not the
    expected one, or on a Python whose coroutine bytecode this was not verified on (the
    cell's driver then steps the coroutine, ADR 0076).
    """
    if not _FLATTENS or type(fn) is not types.FunctionType or not never_suspends(fn):
        return None
    code = fn.__code__
    raw = bytearray(code.co_code)
    at = 0
    while at < len(raw) and raw[at] in _PROLOGUE_SETUP:
        at += 2
    if raw[at : at + 6 : 2] != bytes((_OPS["RETURN_GENERATOR"], _OPS["POP_TOP"], _OPS["RESUME"])):
        return None
    raw[at : at + 4] = _NOP_PAIR
    flat_code = code.replace(co_code=bytes(raw), co_flags=code.co_flags & ~inspect.CO_COROUTINE)
    flat = types.FunctionType(
        flat_code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    flat.__qualname__ = fn.__qualname__
    flat.__kwdefaults__ = fn.__kwdefaults__
    flat.__module__ = fn.__module__
    flat.__doc__ = fn.__doc__
    return flat


class HandlerEntry:
    """One dispatch table row: the function, whether it must be awaited, whether it runs
    eagerly (an async handler that cannot suspend: no task, ADR 0076), and whether it
    starts eagerly (runs on the actor's step up to its first suspension, ADR 0094).

    ``call`` is what the cell's step calls directly, as a sync handler: the function of a
    sync handler, the flat function (ADR 0106) of an eager one; None when the handler's
    coroutine must be stepped (by the cell's driver, or as far as it goes, or by a task).
    """

    __slots__ = ("call", "eager", "eager_start", "fn", "is_async", "name")

    def __init__(
        self, fn: Callable[..., object], is_async: bool, name: str, eager_start: bool = False
    ) -> None:
        self.fn = fn
        self.is_async = is_async
        self.eager = is_async and never_suspends(fn)
        self.eager_start = is_async and not self.eager and eager_start
        self.name = name
        self.call: Callable[..., object] | None = (
            fn if not is_async else flat_function(fn) if self.eager else None
        )


class ActorClassInfo:
    """What the kernel knows about an actor class, computed once."""

    __slots__ = (
        "async_on_start",
        "async_on_stop",
        "declared",
        "handlers",
        "has_on_start",
        "has_on_stop",
    )

    @classmethod
    def of(cls, actor_class: type[Actor[Never]]) -> ActorClassInfo:
        """The info of ``actor_class``, built on first use and kept on the class itself."""
        info = actor_class.__dict__.get("_lightflow_info")
        if info is None:
            info = cls(actor_class)
            setattr(actor_class, "_lightflow_info", info)  # noqa: B010
        return info

    def __init__(self, cls: type[Actor[Never]]) -> None:
        self.handlers: dict[type, HandlerEntry] = _build_handlers(cls)
        self.declared: tuple[type, ...] = _declared_messages(cls)
        missing = [t.__qualname__ for t in self.declared if _lookup(self.handlers, t) is None]
        if missing:
            raise InvalidActorDefinition(
                f"{cls.__qualname__} declares Actor[...] messages without a @handler: "
                f"{', '.join(missing)}"
            )
        self.has_on_start = cls.on_start is not Actor.on_start
        self.async_on_start = inspect.iscoroutinefunction(cls.on_start)
        self.has_on_stop = cls.on_stop is not Actor.on_stop
        self.async_on_stop = inspect.iscoroutinefunction(cls.on_stop)

    def resolve(self, msg_type: type) -> HandlerEntry | None:
        """The handler for ``msg_type``, following its MRO once and caching the answer."""
        entry = _lookup(self.handlers, msg_type)
        if entry is not None:
            self.handlers[msg_type] = entry
        return entry

    def accepted_names(self) -> list[str]:
        return sorted(t.__qualname__ for t in self.handlers)


def _lookup(handlers: dict[type, HandlerEntry], msg_type: type) -> HandlerEntry | None:
    for base in msg_type.__mro__:
        entry = handlers.get(base)
        if entry is not None:
            return entry
    return None


def _union_members(tp: object) -> tuple[type, ...]:
    origin = typing.get_origin(tp)
    if origin is Union or isinstance(tp, types.UnionType):
        out: list[type] = []
        for arg in typing.get_args(tp):
            out.extend(_union_members(arg))
        return tuple(out)
    if origin is not None and isinstance(origin, type):
        return (origin,)
    if isinstance(tp, type):
        return (tp,)
    return ()


def _declared_messages(cls: type) -> tuple[type, ...]:
    """The message classes named in ``class X(Actor[A | B])``, if any."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            if typing.get_origin(base) is Actor:
                (arg,) = typing.get_args(base)
                if isinstance(arg, TypeVar):
                    return ()
                return _union_members(arg)
    return ()


def _build_handlers(cls: type) -> dict[type, HandlerEntry]:
    table: dict[type, HandlerEntry] = {}
    # Walk bases first so a subclass's handler overrides its parent's for the same type.
    for klass in reversed(cls.__mro__):
        for attr, fn in vars(klass).items():
            if not callable(fn) or not hasattr(fn, _HANDLER_MARK):
                continue
            explicit: tuple[type, ...] | None = getattr(fn, _HANDLER_MARK)
            msg_types = explicit or _annotated_types(klass, attr, fn)
            entry = HandlerEntry(
                fn,
                inspect.iscoroutinefunction(fn),
                attr,
                eager_start=getattr(fn, _EAGER_START_MARK, False),
            )
            for msg_type in msg_types:
                table[msg_type] = entry
    return table


def _annotated_types(klass: type, attr: str, fn: Callable[..., object]) -> tuple[type, ...]:
    where = f"{klass.__qualname__}.{attr}"
    params = list(inspect.signature(fn).parameters.values())
    if len(params) != 2:
        raise InvalidActorDefinition(
            f"handler {where} must take exactly (self, message), got {len(params) - 1} arguments"
        )
    try:
        hints = typing.get_type_hints(fn)
    except NameError as exc:
        raise InvalidActorDefinition(
            f"cannot resolve the message type of handler {where} ({exc}); define the message "
            f"class at module level, or name it explicitly with @handler(MessageType)"
        ) from exc
    annotation = hints.get(params[1].name)
    members = _union_members(annotation)
    if not members:
        raise InvalidActorDefinition(
            f"handler {where} needs a message class annotation on {params[1].name!r} "
            f"(or @handler(MessageType)); got {annotation!r}"
        )
    return members


class Actor(Generic[M]):
    """Base class of actors. ``M`` is the union of message types the actor accepts.

    ::

        class Counter(Actor[Inc | Get]):
            def __init__(self) -> None:
                self.value = 0

            @handler
            def inc(self, msg: Inc) -> None:
                self.value += msg.by

            @handler
            def get(self, msg: Get) -> int:
                return self.value

    Handlers may be ``async``; the actor handles one message at a time either way. While it
    runs, ``self.ref``, ``self.system`` and the context methods below are available.
    A handler answers an ``ask`` by returning the value, by raising ``Refused`` (the asker
    gets it; the actor goes on), or later through ``self.defer(msg)``.
    Set ``trap_exit = True`` (class attribute, or in ``on_start``) to receive ``Exit``
    messages from linked actors instead of exiting with them.
    """

    __slots__ = ("_cell",)
    _cell: Cell
    trap_exit: bool = False
    tenant: str | None = None
    """Who the actor works for (a live session's or a run's tenant), shown to operators in
    `ActorInfo.tenant`; an actor that serves one tenant sets it (``self.tenant = ...``)."""
    remark: str | None = None
    """Something the actor found about itself that an operator should act on, shown in
    `ActorInfo.remark` and the operator tree (a provider slot whose sync callable holds
    the loop, ADR 0135); an attribute or a property, read only when the tree is taken."""

    def on_start(self) -> Awaitable[None] | None:
        """Called once before the first message. Raising here fails the start."""
        return None

    def on_stop(self, reason: ExitReason) -> Awaitable[None] | None:
        """Called once when the actor exits, unless it is killed from outside (``system.kill``)."""
        return None

    # -- context available while running ------------------------------------------------

    def _running_cell(self, what: str) -> Cell:
        try:
            return self._cell
        except AttributeError:
            raise NotInActor(what) from None

    @property
    def ref(self) -> ActorRef[M]:
        """This actor's own reference."""
        ref: ActorRef[M] = self._running_cell("self.ref").ref
        return ref

    @property
    def system(self) -> ActorSystem:
        """The system this actor runs in."""
        return self._running_cell("self.system").system

    def spawn(
        self,
        factory: Callable[[], Actor[T]],
        *,
        name: str | None = None,
        link: bool = False,
        trap_exit: bool | None = None,
    ) -> ActorRef[T]:
        """Spawn a child of this actor (``link=True`` is Erlang's ``spawn_link``)."""
        cell = self._running_cell("self.spawn")
        return cell.system.spawn(
            factory, name=name, parent=cell.ref, link=link, trap_exit=trap_exit
        )

    def link(self, other: ActorRef[typing.Never]) -> None:
        """Link to ``other``: when either exits abnormally, the other gets the exit signal."""
        self._running_cell("self.link").link(other._cell)

    def unlink(self, other: ActorRef[typing.Never]) -> None:
        self._running_cell("self.unlink").unlink(other._cell)

    def monitor(self, other: ActorRef[typing.Never]) -> int:
        """Monitor ``other``; a ``Down`` message arrives once when it exits. Returns the id."""
        return self._running_cell("self.monitor").monitor(other._cell)

    def demonitor(self, monitor: int) -> bool:
        """Remove a monitor; no ``Down`` is delivered for it afterwards."""
        return self._running_cell("self.demonitor").demonitor(monitor)

    def send_after(self, delay: float, target: ActorRef[T], message: T) -> Timer:
        """Deliver ``message`` to ``target`` after ``delay`` seconds of system time.

        The timer is cancelled if this actor exits first.
        """
        cell = self._running_cell("self.send_after")
        return cell.system._timer(delay, target._cell, message, owner=cell)

    async def run_blocking(self, fn: Callable[..., T], *args: object) -> T:
        """Run blocking ``fn(*args)`` in a worker thread; if it raises, so does the handler."""
        cell = self._running_cell("self.run_blocking")
        return await cell.system._run_blocking(fn, *args)

    def defer(self, msg: Ask[R]) -> Reply[R]:
        """Take the reply to ``msg`` (the ask being handled) to answer it later.

        The handler's return value then no longer answers the ask; ``reply.send(value)``,
        ``reply.refuse(refusal)`` or ``reply.fail(exc)`` does, once, from any later handler,
        timer or loop callback. If the actor exits first, the asker gets ``ActorExited``.
        A ``Refused`` the handler raises still answers the ask at once. Call it from
        ``msg``'s own handler (for an async one, before it finishes); for a ``tell``'d
        message, a second ``defer`` of the same message, or another message, the handle is
        inert (its calls return False).
        """
        return self._running_cell("self.defer").defer(msg)

    def stop(self, reason: ExitReason = NORMAL) -> None:
        """Exit with ``reason`` once the current message is handled."""
        self._running_cell("self.stop").request_stop(reason)


# Handlers for the kernel's signals are optional; actors that do not declare them ignore them.
SIGNAL_TYPES: tuple[type, ...] = (Exit, Down)
