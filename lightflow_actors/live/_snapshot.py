"""`StateCodec`: how a view's state becomes a session snapshot and back (msgspec MessagePack).

Built once per view class (kept on the class, as its events are). The state type is the
``S`` of ``LiveView[S, E]``; snapshots decode straight into it, so a restored state is
validated like any input. Fields named in the view's ``transient`` (a frozenset of field
names of a msgspec Struct state) are written at their defaults and come back at their
defaults: that is the per-field opt-out for what does not serialise or must not outlive
the node (an actor ref, a socket, a cache).
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable
from typing import Final, TypeVar

import msgspec

from ._component import AnyLiveView, LiveView
from ._errors import ViewDefinitionError

logger = logging.getLogger(__name__)

_CACHE: Final = "_lightflow_state_codec"


class StateCodec:
    """Encodes and decodes one view class's state; `usable` is False when its state type
    is not one msgspec can decode (the view then re-mounts on rejoin)."""

    __slots__ = ("_decoder", "_defaults", "_encoder", "state_type", "usable")

    def __init__(self, cls: type[AnyLiveView]) -> None:
        self.state_type: object = _declared_state(cls)
        self._encoder = msgspec.msgpack.Encoder()
        self._defaults: dict[str, Callable[[], object]] = {}
        transient = frozenset(getattr(cls, "transient", frozenset()))
        if transient:
            self._defaults = _transient_defaults(cls, self.state_type, transient)
        try:
            if self.state_type is _UNKNOWN:
                raise TypeError("a function view whose state type is not known (give state=)")
            self._decoder: msgspec.msgpack.Decoder[object] = msgspec.msgpack.Decoder(
                self.state_type
            )
            self.usable = True
        except TypeError as error:
            logger.info(
                "%s: state type %r cannot be restored from a snapshot (%s); it re-mounts",
                cls.__qualname__,
                self.state_type,
                error,
            )
            self._decoder = msgspec.msgpack.Decoder()
            self.usable = False

    @classmethod
    def of(cls, view: AnyLiveView) -> StateCodec:
        klass = type(view)
        codec: StateCodec | None = klass.__dict__.get(_CACHE)
        if codec is None:
            codec = cls(klass)
            setattr(klass, _CACHE, codec)
        return codec

    def encode(self, state: object) -> bytes:
        """Raises `msgspec.EncodeError` or `TypeError` for a state that does not serialise."""
        if self._defaults:
            state = msgspec.structs.replace(
                state,  # type: ignore[type-var]
                **{name: make() for name, make in self._defaults.items()},
            )
        return self._encoder.encode(state)

    def decode(self, data: bytes) -> object:
        """Raises `msgspec.DecodeError` (or `ValidationError`) for bytes that do not decode
        into the state type."""
        return self._decoder.decode(data)


_UNKNOWN: Final = object()


def _declared_state(cls: type) -> object:
    if "_lightflow_state_type" in cls.__dict__:  # a function view (live_view)
        declared: object = cls.__dict__["_lightflow_state_type"]
        return _UNKNOWN if declared is None else declared
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            if typing.get_origin(base) is LiveView:
                args = typing.get_args(base)
                if args and not isinstance(args[0], TypeVar):
                    return args[0]
                return typing.Any
    return typing.Any


def _constant(value: object) -> Callable[[], object]:
    return lambda: value


def _transient_defaults(
    cls: type, state_type: object, transient: frozenset[str]
) -> dict[str, Callable[[], object]]:
    if not (isinstance(state_type, type) and issubclass(state_type, msgspec.Struct)):
        raise ViewDefinitionError(
            f"{cls.__qualname__}.transient names fields, so its state must be a "
            f"msgspec.Struct; {state_type!r} is not"
        )
    fields = {f.name: f for f in msgspec.structs.fields(state_type)}
    defaults: dict[str, Callable[[], object]] = {}
    for name in sorted(transient):
        field = fields.get(name)
        if field is None:
            raise ViewDefinitionError(
                f"{cls.__qualname__}.transient: {state_type.__qualname__} has no field {name!r}"
            )
        if field.default is not msgspec.NODEFAULT:
            defaults[name] = _constant(field.default)
        elif field.default_factory is not msgspec.NODEFAULT:
            defaults[name] = field.default_factory
        else:
            raise ViewDefinitionError(
                f"{cls.__qualname__}.transient: field {name!r} of "
                f"{state_type.__qualname__} needs a default (it comes back at it on restore)"
            )
    return defaults
