"""JS commands: client-side effects built in Python, run by the browser with no round trip.

Phoenix's ``Phoenix.LiveView.JS``: a `JS` value is a pipeline of commands (show,
hide, toggle, add/remove/toggle a class, set/remove an attribute, a transition,
dispatch a DOM event, push an event to the server, navigate, patch, focus,
push and pop focus) that
the client runs when the event it is bound to fires:

    MENU = Template('<button lf-click="{open}">menu</button><ul id="menu" hidden>…</ul>')
    MENU(open=JS.toggle("#menu").push("opened"))

A `JS` *is* its wire text (a `str` holding the JSON list of
``[kind, args]`` pairs, specs/live-wire.md §12), so a template field takes it as it
takes any text: escaped into the quoted attribute, unescaped by the browser. Each
builder call returns a new `JS` with one more command; the class methods start a
pipeline (``JS.show("#x")``), the instance methods extend it (``….push("opened")``).
Arguments are checked here, once, with `JSCommandError` naming the bad one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final, Generic, ParamSpec, TypeAlias

import msgspec

from ..isa import JSONValue, check_json_value
from ..isa import PayloadError as _PayloadError
from ._errors import JSCommandError

P = ParamSpec("P")

DEFAULT_TIME: Final = 200
"""Milliseconds a transition runs unless a command says otherwise (Phoenix's default)."""

_CLASS_NAME: Final = re.compile(r"[^\s\"'<>]+\Z")
_ATTRIBUTE: Final = re.compile(r"[A-Za-z_:][A-Za-z0-9_.:-]*\Z")
_EVENT: Final = re.compile(r"[^\s\"'<>]+\Z")


class Target(msgspec.Struct, frozen=True):
    """Where a command applies relative to the element whose event runs it:
    ``closest(selector)`` (the nearest ancestor, itself included) or
    ``inner(selector)`` (descendants). A plain string selector searches the document."""

    relation: str
    selector: str


def closest(selector: str) -> Target:
    """The nearest ancestor of the event's element (itself included) matching `selector`."""
    return Target("closest", _selector(selector, "closest"))


def inner(selector: str) -> Target:
    """The descendants of the event's element matching `selector`."""
    return Target("inner", _selector(selector, "inner"))


To: TypeAlias = "str | Target | None"
"""A command's target: None (the event's own element), a document selector, or a `Target`."""

Transition: TypeAlias = "str | tuple[str, str, str] | None"
"""Classes for a transition: ``"fade"`` (applied for `time` ms) or Phoenix's triple
``(running, start, end)``, e.g. ``("ease-out duration-200", "opacity-0", "opacity-100")``."""

Args: TypeAlias = dict[str, JSONValue]


def _selector(selector: object, what: str) -> str:
    if not isinstance(selector, str) or not selector.strip():
        raise JSCommandError(what, f"expected a non-empty CSS selector, got {selector!r}")
    if len(selector) > 1024:
        raise JSCommandError(what, "a selector longer than 1 024 characters")
    return selector


def _to(to: To, args: Args) -> Args:
    if isinstance(to, Target):
        args["to"] = {to.relation: to.selector}
    elif to is not None:
        args["to"] = _selector(to, "to")
    return args


def _classes(names: object, what: str) -> list[str]:
    if isinstance(names, str):
        parts = names.split()
    elif isinstance(names, list | tuple):
        parts = [str(n) for n in names]
    else:
        raise JSCommandError(what, f"expected class names (a string), got {names!r}")
    for part in parts:
        if not _CLASS_NAME.match(part):
            raise JSCommandError(what, f"{part!r} is not a class name")
    return parts


def _json_list(names: list[str]) -> JSONValue:
    return list[JSONValue](names)


def _transition(transition: Transition, args: Args, time: int) -> Args:
    if transition is not None:
        if isinstance(transition, str):
            triple: list[JSONValue] = [_json_list(_classes(transition, "transition")), [], []]
        elif isinstance(transition, tuple) and len(transition) == 3:
            triple = [_json_list(_classes(part, "transition")) for part in transition]
        else:
            raise JSCommandError(
                "transition", f"expected classes or (running, start, end), got {transition!r}"
            )
        args["transition"] = triple
    return _time(time, args)


def _time(time: int, args: Args) -> Args:
    if isinstance(time, bool) or not isinstance(time, int) or not 0 <= time <= 60_000:
        raise JSCommandError("time", f"expected milliseconds in 0..60000, got {time!r}")
    if time != DEFAULT_TIME:
        args["time"] = time
    return args


def _event(event: object, what: str = "event") -> str:
    if not isinstance(event, str) or not _EVENT.match(event) or len(event) > 256:
        raise JSCommandError(what, f"expected an event name without spaces, got {event!r}")
    return event


def _json_object(value: object, what: str) -> dict[str, JSONValue]:
    if not isinstance(value, Mapping):
        raise JSCommandError(what, f"expected a mapping of JSON values, got {value!r}")
    out = {str(k): v for k, v in value.items()}
    try:
        check_json_value(out, what)
    except _PayloadError as error:
        raise JSCommandError(what, str(error)) from None
    return out


def _display(display: str) -> str:
    if not isinstance(display, str) or not re.fullmatch(r"[a-z-]+", display):
        raise JSCommandError("display", f"expected a CSS display value, got {display!r}")
    return display


# -- the commands (each returns its [kind, args] pair) -------------------------------------


def _show(
    to: To = None,
    *,
    display: str = "block",
    transition: Transition = None,
    time: int = DEFAULT_TIME,
) -> tuple[str, Args]:
    """Show the target (``style.display = display``); sticky across patches."""
    args = _to(to, {})
    if display != "block":
        args["display"] = _display(display)
    return "show", _transition(transition, args, time)


def _hide(
    to: To = None, *, transition: Transition = None, time: int = DEFAULT_TIME
) -> tuple[str, Args]:
    """Hide the target (``style.display = "none"``); sticky across patches."""
    return "hide", _transition(transition, _to(to, {}), time)


def _toggle(
    to: To = None,
    *,
    display: str = "block",
    in_: Transition = None,
    out: Transition = None,
    time: int = DEFAULT_TIME,
) -> tuple[str, Args]:
    """Show the target if hidden, hide it if shown (`in_` / `out`: the transitions)."""
    args = _to(to, {})
    if display != "block":
        args["display"] = _display(display)
    for name, value in (("ins", in_), ("outs", out)):
        if value is not None:
            args[name] = _transition(value, {}, DEFAULT_TIME)["transition"]
    return "toggle", _time(time, args)


def _add_class(
    names: str, to: To = None, *, transition: Transition = None, time: int = DEFAULT_TIME
) -> tuple[str, Args]:
    """Add the space-separated class `names`; sticky across patches."""
    args = _to(to, {"names": _json_list(_classes(names, "names"))})
    return "add_class", _transition(transition, args, time)


def _remove_class(
    names: str, to: To = None, *, transition: Transition = None, time: int = DEFAULT_TIME
) -> tuple[str, Args]:
    """Remove the class `names`; sticky across patches (the server's class stays off)."""
    args = _to(to, {"names": _json_list(_classes(names, "names"))})
    return "remove_class", _transition(transition, args, time)


def _toggle_class(
    names: str, to: To = None, *, transition: Transition = None, time: int = DEFAULT_TIME
) -> tuple[str, Args]:
    """Add each of `names` the target lacks, remove each it has; sticky."""
    args = _to(to, {"names": _json_list(_classes(names, "names"))})
    return "toggle_class", _transition(transition, args, time)


def _set_attribute(name: str, value: str, to: To = None) -> tuple[str, Args]:
    """Set attribute `name` to `value`; sticky across patches."""
    if not isinstance(name, str) or not _ATTRIBUTE.match(name):
        raise JSCommandError("name", f"{name!r} is not an attribute name")
    if not isinstance(value, str):
        raise JSCommandError("value", f"an attribute value is a string, got {value!r}")
    return "set_attr", _to(to, {"attr": [name, value]})


def _remove_attribute(name: str, to: To = None) -> tuple[str, Args]:
    """Remove attribute `name`; sticky across patches."""
    if not isinstance(name, str) or not _ATTRIBUTE.match(name):
        raise JSCommandError("name", f"{name!r} is not an attribute name")
    return "remove_attr", _to(to, {"attr": name})


def _toggle_attribute(
    name: str, on: str, off: str | None = None, to: To = None
) -> tuple[str, Args]:
    """Without `off`: set `name` to `on` when absent, remove it when present. With `off`:
    switch it between `on` and `off` (``toggle_attribute("aria-expanded", "true",
    "false")``); sticky."""
    if not isinstance(name, str) or not _ATTRIBUTE.match(name):
        raise JSCommandError("name", f"{name!r} is not an attribute name")
    values: list[JSONValue] = [name]
    for label, value in (("on", on), ("off", off)):
        if value is None and label == "off":
            continue
        if not isinstance(value, str):
            raise JSCommandError(label, f"an attribute value is a string, got {value!r}")
        values.append(value)
    return "toggle_attr", _to(to, {"attr": values})


def _transition_command(
    classes: Transition, to: To = None, *, time: int = DEFAULT_TIME
) -> tuple[str, Args]:
    """Apply transition classes for `time` ms, then take them off."""
    if classes is None:
        raise JSCommandError("transition", "give the classes to apply")
    return "transition", _transition(classes, _to(to, {}), time)


def _dispatch(
    event: str,
    to: To = None,
    *,
    detail: Mapping[str, JSONValue] | None = None,
    bubbles: bool = True,
) -> tuple[str, Args]:
    """Dispatch a DOM event (a `CustomEvent` with `detail`; ``"click"`` a real click)."""
    args = _to(to, {"event": _event(event)})
    if detail is not None:
        args["detail"] = _json_object(detail, "detail")
    if not bubbles:
        args["bubbles"] = False
    return "dispatch", args


def _push(
    event: str,
    *,
    value: Mapping[str, JSONValue] | None = None,
    target: int | None = None,
    loading: str | None = None,
) -> tuple[str, Args]:
    """Send `event` to the server: the binding's payload (``lf-value-*``, the form's
    fields) with `value` over it; `target`: a live component's ``myself`` (else the
    element's ``lf-target``, if any); `loading`: a selector that also gets ``lf-loading``."""
    args: Args = {"event": _event(event)}
    if value is not None:
        args["value"] = _json_object(value, "value")
    if target is not None:
        if isinstance(target, bool) or not isinstance(target, int) or target < 0:
            raise JSCommandError("target", f"expected a component myself (an int), got {target!r}")
        args["target"] = target
    if loading is not None:
        args["loading"] = _selector(loading, "loading")
    return "push", args


def _href(href: object) -> str:
    if not isinstance(href, str) or not href or len(href) > 8192:
        raise JSCommandError("href", f"expected a URL, got {href!r}")
    return href


def _navigate(href: str, *, replace: bool = False) -> tuple[str, Args]:
    """Live navigation to `href` (another view of the hub; a page load otherwise)."""
    args: Args = {"href": _href(href)}
    if replace:
        args["replace"] = True
    return "navigate", args


def _patch(href: str, *, replace: bool = False) -> tuple[str, Args]:
    """Live patch to `href` (same view, new query: ``handle_params``)."""
    args: Args = {"href": _href(href)}
    if replace:
        args["replace"] = True
    return "patch", args


def _focus(to: To = None) -> tuple[str, Args]:
    """Focus the target."""
    return "focus", _to(to, {})


def _focus_first(to: To = None) -> tuple[str, Args]:
    """Focus the first focusable element inside the target."""
    return "focus_first", _to(to, {})


def _push_focus(to: To = None) -> tuple[str, Args]:
    """Remember the target (default: the event's element, e.g. the button opening a
    modal) on the page's focus stack, for a later `pop_focus` to focus again."""
    return "push_focus", _to(to, {})


def _pop_focus() -> tuple[str, Args]:
    """Focus the element the last `push_focus` remembered, and forget it (nothing when
    the stack is empty). A remembered element a patch replaced is found again by its id."""
    return "pop_focus", {}


def _exec(attribute: str, to: To = None) -> tuple[str, Args]:
    """Run the JS commands held in the target's attribute `attribute` (e.g. ``data-cancel``)."""
    if not isinstance(attribute, str) or not _ATTRIBUTE.match(attribute):
        raise JSCommandError("attribute", f"{attribute!r} is not an attribute name")
    return "exec", _to(to, {"attr": attribute})


# -- the pipeline -----------------------------------------------------------------------------


class _Chain(Generic[P]):
    """A builder usable on the class (starts a pipeline) and on a value (extends it)."""

    def __init__(self, build: Callable[P, tuple[str, Args]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    def __get__(self, obj: JS | None, owner: type[JS]) -> Callable[P, JS]:
        base = obj if obj is not None else owner()
        build = self.build

        def command(*args: P.args, **kwargs: P.kwargs) -> JS:
            return base.then(build(*args, **kwargs))

        command.__doc__ = build.__doc__
        return command


class JS(str):
    """A pipeline of client-side commands, as the attribute text the client runs.

    >>> str(JS.toggle("#menu").push("opened"))
    '[["toggle",{"to":"#menu"}],["push",{"event":"opened"}]]'
    >>> JS()  # no command: a binding that does nothing
    JS('[]')
    """

    __slots__ = ()

    def __new__(cls, text: str = "[]") -> JS:
        return super().__new__(cls, text)

    def __repr__(self) -> str:
        return f"JS({str.__repr__(self)})"

    @property
    def commands(self) -> list[tuple[str, Args]]:
        """The ``(kind, args)`` pairs, in order (tests and the test DSL read them)."""
        return [(kind, args) for kind, args in msgspec.json.decode(self.encode())]

    def then(self, command: tuple[str, Args]) -> JS:
        """This pipeline with `command` appended (the builders call it)."""
        try:
            encoded = msgspec.json.encode([list(command)]).decode()
        except UnicodeEncodeError:
            raise JSCommandError(
                command[0], "holds a string that is not valid UTF-8 (a lone surrogate)"
            ) from None
        if self == "[]":
            return JS(encoded)
        return JS(f"{self[:-1]},{encoded[1:]}")

    show = _Chain(_show)
    hide = _Chain(_hide)
    toggle = _Chain(_toggle)
    add_class = _Chain(_add_class)
    remove_class = _Chain(_remove_class)
    toggle_class = _Chain(_toggle_class)
    set_attribute = _Chain(_set_attribute)
    remove_attribute = _Chain(_remove_attribute)
    toggle_attribute = _Chain(_toggle_attribute)
    transition = _Chain(_transition_command)
    dispatch = _Chain(_dispatch)
    push = _Chain(_push)
    navigate = _Chain(_navigate)
    patch = _Chain(_patch)
    focus = _Chain(_focus)
    focus_first = _Chain(_focus_first)
    push_focus = _Chain(_push_focus)
    pop_focus = _Chain(_pop_focus)
    exec = _Chain(_exec)
