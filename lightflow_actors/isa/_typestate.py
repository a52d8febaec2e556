"""``Session[S]``: the lifecycle as a typestate mypy can check.

The phase is a phantom type parameter: ``Session[Mounted]`` has no usable ``patch``
(its self type demands ``Session[Live]``), so ``session.patch(...)`` on a session
that was never rendered is a type error. Each call returns a new handle typed by
the phase it leads to; the shared ``PureInterpreter`` underneath still checks the
phase at runtime, so a stale handle (or untyped code) gets a ``LifecycleError``.

    live = Session.start(program).mount(Mount(id="s1", target="counter")).render(Render())
    live = live.submit(Submit(event="inc"))   # ok: Session[Live]
    Session.start(program).patch(Patch(diff={}))   # mypy: invalid self argument
"""

from __future__ import annotations

from typing import Generic, Never, TypeVar, final, overload

from ._effects import Effect
from ._instructions import Instruction, Mount, Patch, Render, Shutdown, Submit, Subscribe
from ._interpreter import PureInterpreter
from ._lifecycle import Phase
from ._program import Program
from ._trace import Tracer

__all__ = [
    "Closed",
    "Disconnected",
    "Joined",
    "Live",
    "Mounted",
    "Open",
    "Session",
    "Unmounted",
    "Viewable",
]


class Open:
    """Phantom marker: any phase before closed (accepts Shutdown)."""


class Unmounted(Open):
    """Phantom marker: disconnected or joined (accepts Mount)."""


class Viewable(Open):
    """Phantom marker: mounted or live (accepts Render)."""


@final
class Disconnected(Unmounted):
    """Phantom marker: no watcher, nothing mounted."""


@final
class Joined(Unmounted):
    """Phantom marker: a watcher subscribed, nothing mounted."""


@final
class Mounted(Viewable):
    """Phantom marker: mounted, no full view rendered yet."""


@final
class Live(Viewable):
    """Phantom marker: rendered; accepts Patch and Submit."""


@final
class Closed:
    """Phantom marker: shut down; accepts nothing."""


S = TypeVar("S", covariant=True)


class Session(Generic[S]):
    """A typed handle on a session's lifecycle; ``effects`` are those of the last call.

    Handles are values: keep the one a call returns. The phantom ``S`` is never
    instantiated; the runtime phase is ``session.phase``.
    """

    __slots__ = ("_effects", "_interpreter")

    def __init__(self, interpreter: PureInterpreter, effects: tuple[Effect, ...] = ()) -> None:
        self._interpreter = interpreter
        self._effects = effects

    @staticmethod
    def start(program: Program, *, tracer: Tracer | None = None) -> Session[Disconnected]:
        """A new disconnected session running ``program``."""
        return Session(PureInterpreter(program, tracer=tracer))

    @property
    def phase(self) -> Phase:
        """The runtime phase of the underlying session (shared by all its handles)."""
        return self._interpreter.phase

    @property
    def effects(self) -> tuple[Effect, ...]:
        """The effects produced by the call that returned this handle."""
        return self._effects

    def _apply(self, instruction: Instruction) -> Session[Never]:
        # Session[Never] is a subtype of every Session[S] (S is covariant): the
        # public method's signature names the phase, the interpreter enforces it.
        return Session(self._interpreter, tuple(self._interpreter.apply(instruction)))

    def mount(self: Session[Unmounted], instruction: Mount) -> Session[Mounted]:
        """Mount the program; from disconnected or joined."""
        return self._apply(instruction)

    def render(self: Session[Viewable], instruction: Render) -> Session[Live]:
        """Render the full view; from mounted or live."""
        return self._apply(instruction)

    def patch(self: Session[Live], instruction: Patch) -> Session[Live]:
        """Apply and forward a delta; live only."""
        return self._apply(instruction)

    def submit(self: Session[Live], instruction: Submit) -> Session[Live]:
        """Deliver input; live only."""
        return self._apply(instruction)

    @overload
    def subscribe(self: Session[Disconnected], instruction: Subscribe) -> Session[Joined]: ...
    @overload
    def subscribe(self: Session[Joined], instruction: Subscribe) -> Session[Joined]: ...
    @overload
    def subscribe(self: Session[Mounted], instruction: Subscribe) -> Session[Mounted]: ...
    @overload
    def subscribe(self: Session[Live], instruction: Subscribe) -> Session[Live]: ...
    def subscribe(self: Session[Open], instruction: Subscribe) -> Session[Open]:
        """Join or leave a topic; a first Subscribe moves disconnected to joined.

        ``Subscribe(off=True)`` on a disconnected session is a runtime error only.
        """
        return self._apply(instruction)

    def shutdown(self: Session[Open], instruction: Shutdown) -> Session[Closed]:
        """Close the session; from any phase but closed."""
        return self._apply(instruction)
