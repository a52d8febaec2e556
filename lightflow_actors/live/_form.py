"""Forms: a msgspec struct as the schema of a form, with per-field errors and "used input".

``to_form(Profile, params)`` checks each field of the struct ``Profile`` against what
the browser sent (``lf-change`` while typing, ``lf-submit`` at the end) with msgspec's
own validation (types, ``Meta`` constraints, ``__post_init__``), and gives a `Form`:
each field's value as typed, its errors in msgspec's words, and whether the user has
used it. Errors of a field the user has not touched yet are kept but not shown
(`FormField.shown_errors`), as Phoenix's ``used_input?``: the client sends
``_unused_<name>`` for every field of the form the user has not typed into or changed,
and nothing of the kind on submit, so after a submit every error shows.

    class Profile(msgspec.Struct, frozen=True):
        name: Annotated[str, msgspec.Meta(min_length=2)]
        age: Annotated[int, msgspec.Meta(ge=0)] | None = None

    form = to_form(Profile, {"name": "A", "age": "x", "_unused_age": ""})
    form["name"].shown_errors   # ('Expected `str` of length >= 2',)
    form["age"].shown_errors    # (): not used yet
    form.data                   # None until every field is valid
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Generic, TypeAlias, TypeVar

import msgspec

T = TypeVar("T", bound=msgspec.Struct)

FormValue: TypeAlias = str | bool | int | float | list[str] | None
"""What a form field holds on the wire: text, a checkbox, a multi-select."""

UNUSED_PREFIX: Final = "_unused_"
"""``_unused_<name>`` in the params: the user has not used field ``name`` yet."""

BLANK: Final = "can't be blank"
"""The error of a required field left empty (msgspec has no value to judge)."""


class FormEvent(msgspec.Struct, frozen=True):
    """Base of an event that carries a whole form: `params` holds every key the client
    sent (the fields, ``_target``, ``_unused_*``), for `to_form`.

        class Validate(FormEvent, frozen=True, tag="validate"): ...

        def handle_event(self, event, state):
            return replace(state, form=to_form(Profile, event.params))
    """

    params: dict[str, FormValue] = msgspec.field(default_factory=dict)


class FormField(msgspec.Struct, frozen=True):
    """One field as the template shows it: `value` as the user typed it (or the
    default), every error of that value, and whether the user has used it."""

    name: str
    value: str
    errors: tuple[str, ...] = ()
    used: bool = False

    @property
    def shown_errors(self) -> tuple[str, ...]:
        """The errors to show now: none until the user has used the field."""
        return self.errors if self.used else ()


class Form(msgspec.Struct, Generic[T], frozen=True):
    """A form over the struct type `T`: its fields, the valid `data` (None while any
    field is in error) and errors of the whole form (``__post_init__``)."""

    fields: dict[str, FormField]
    data: T | None = None
    errors: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> FormField:
        try:
            return self.fields[name]
        except KeyError:
            known = ", ".join(self.fields) or "none"
            raise KeyError(f"the form has no field {name!r} (it has: {known})") from None

    @property
    def valid(self) -> bool:
        return self.data is not None

    @property
    def used(self) -> bool:
        """Whether the user has used any field (show the form's own errors then)."""
        return any(f.used for f in self.fields.values())


def to_form(
    schema: type[T], params: Mapping[str, object] | None = None, *, data: T | None = None
) -> Form[T]:
    """Check `params` (a form's fields as the client sends them) against `schema`.

    A field missing from `params` takes its value from `data` (the record being
    edited), else the struct's default; a required field with neither, or left empty
    when its type takes no empty string, has the error `BLANK`. Keys starting with
    ``_`` (``_target``, ``_unused_*``) are the client's, never fields.
    """
    params = params or {}
    unused = {k[len(UNUSED_PREFIX) :] for k in params if k.startswith(UNUSED_PREFIX)}
    fields: dict[str, FormField] = {}
    values: dict[str, object] = {}
    failed = False
    for info in msgspec.structs.fields(schema):
        name = info.name
        used = name in params and name not in unused
        has_default = info.default is not msgspec.NODEFAULT or (
            info.default_factory is not msgspec.NODEFAULT
        )
        errors: tuple[str, ...] = ()
        if name in params:
            raw = params[name]
            shown = _text(raw)
            try:
                values[name] = msgspec.convert(raw, info.type, strict=False)
            except msgspec.ValidationError as error:
                if raw == "" and has_default:
                    values[name] = _default(info)
                else:
                    errors = (BLANK,) if raw == "" else (_message(error),)
        elif data is not None:
            values[name] = getattr(data, name)
            shown = _text(values[name])
        elif has_default:
            values[name] = _default(info)
            shown = _text(values[name])
        else:
            shown = ""
            errors = (BLANK,)
        failed = failed or bool(errors)
        fields[name] = FormField(name, shown, errors, used)
    if failed:
        return Form(fields)
    try:
        record = schema(**values)
    except (ValueError, TypeError) as error:
        return Form(fields, None, (str(error),))
    return Form(fields, record)


def _default(info: msgspec.structs.FieldInfo) -> object:
    if info.default_factory is not msgspec.NODEFAULT:
        return info.default_factory()
    return info.default


def _text(value: object) -> str:
    """A field's value as the input shows it."""
    if value is None or value is False:
        return ""
    if value is True:
        return "true"
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return str(value)


def _message(error: msgspec.ValidationError) -> str:
    """msgspec's message without the ``- at `$...` `` suffix (the field is known)."""
    text = str(error)
    at = text.rfind(" - at `")
    return text[:at] if at >= 0 and text.endswith("`") else text
