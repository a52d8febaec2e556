"""The re-run form: fields generated from a workflow's typed inputs, and the inputs a
submitted form gives back.

A workflow's inputs are a msgspec struct; its JSON schema (``ResolvedWorkflow.
input_schema``, what ``msgspec.json.schema`` writes) names each field's type, enum,
default and whether it is required. Each property becomes one ``FormField``: text,
integer, number, a checkbox, a choice (an enum, a ``Literal``), or JSON in a text area
for anything else (lists, objects, unions). The browser sends the fields as ``f0``,
``f1``... in schema order (an event is a typed struct, so the names are fixed), and
``inputs_of`` turns them back into the inputs object, or says which field is wrong.
The run host checks the inputs again against the struct when it resolves the run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final, Literal

import msgspec

from lightflow_actors.isa import JSONValue

FieldKind = Literal["text", "integer", "number", "boolean", "choice", "json"]

MAX_FIELDS: Final = 24
"""Inputs the form shows as fields; a workflow with more gets the JSON area for all."""

MAX_VALUE_CHARS: Final = 65_536
"""Characters of one submitted field taken at most (a longer one is refused)."""

FormValue = str | bool | int | float | None


class FormField(msgspec.Struct, frozen=True):
    """One input: its name, kind, whether required, its choices, its default (as JSON)."""

    name: str
    kind: FieldKind
    required: bool
    choices: tuple[str, ...] = ()
    default: JSONValue = None
    has_default: bool = False
    description: str = ""


class FormError(ValueError):
    """A submitted field does not hold a value of its type (the message names it)."""


def _resolve(schema: Mapping[str, JSONValue], node: JSONValue, depth: int = 0) -> JSONValue:
    """Follow ``$ref`` to ``#/$defs/...`` (a few levels at most)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and depth < 8:
        ref = str(node["$ref"])
        defs = schema.get("$defs")
        name = ref.removeprefix("#/$defs/")
        if not ref.startswith("#/$defs/") or not isinstance(defs, dict) or name not in defs:
            return {}
        node = defs[name]
        depth += 1
    return node


def fields_of(schema: Mapping[str, JSONValue]) -> tuple[FormField, ...] | None:
    """The form fields of an inputs schema, in its order (None: no object schema, or too
    many properties for a form; the page then offers the inputs as JSON)."""
    root = _resolve(schema, dict(schema))
    if not isinstance(root, dict) or not isinstance(root.get("properties"), dict):
        return None
    properties = root["properties"]
    assert isinstance(properties, dict)
    if len(properties) > MAX_FIELDS:
        return None
    required_list = root.get("required")
    required = set(required_list) if isinstance(required_list, list) else set()
    fields = []
    for name, raw in properties.items():
        node = _resolve(schema, raw)
        spec = node if isinstance(node, dict) else {}
        kind, choices = _kind(spec)
        description = spec.get("description")
        fields.append(
            FormField(
                name=name,
                kind=kind,
                required=name in required,
                choices=choices,
                default=spec.get("default"),
                has_default="default" in spec,
                description=description if isinstance(description, str) else "",
            )
        )
    return tuple(fields)


def _kind(spec: Mapping[str, JSONValue]) -> tuple[FieldKind, tuple[str, ...]]:
    enum = spec.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
        return "choice", tuple(str(v) for v in enum)
    kind = spec.get("type")
    if kind == "string":
        return "text", ()
    if kind == "integer":
        return "integer", ()
    if kind == "number":
        return "number", ()
    if kind == "boolean":
        return "boolean", ()
    return "json", ()


def shown_value(field: FormField, inputs: Mapping[str, JSONValue]) -> str | bool:
    """What the field shows, pre-filled from ``inputs`` (else its default)."""
    value = inputs.get(field.name, field.default)
    if field.kind == "boolean":
        return value is True
    if value is None and not (field.name in inputs and field.kind == "json"):
        return ""
    if field.kind in ("text", "choice") and isinstance(value, str):
        return value
    if field.kind in ("integer", "number") and isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return msgspec.json.encode(value).decode()


def inputs_of(fields: Sequence[FormField], values: Sequence[FormValue]) -> dict[str, JSONValue]:
    """The inputs a submitted form gives: ``values[i]`` is field ``i``'s (None: not sent).

    An empty optional field is left out (its default applies). Raises ``FormError``
    naming the first bad field."""
    inputs: dict[str, JSONValue] = {}
    for index, field in enumerate(fields):
        raw = values[index] if index < len(values) else None
        if field.kind == "boolean":
            inputs[field.name] = _boolean(field, raw)
            continue
        text = "" if raw is None else raw if isinstance(raw, str) else str(raw)
        if len(text) > MAX_VALUE_CHARS:
            raise FormError(f"{field.name}: at most {MAX_VALUE_CHARS} characters")
        if text.strip() == "" and field.kind != "text":
            if field.required:
                raise FormError(f"{field.name} is required")
            continue
        if text == "" and not field.required:
            continue
        inputs[field.name] = _typed(field, text)
    return inputs


def _boolean(field: FormField, raw: FormValue) -> bool:
    if raw is None or isinstance(raw, bool):
        return raw is True
    if isinstance(raw, str) and raw.lower() in ("true", "on", "1", "false", "off", "0", ""):
        return raw.lower() in ("true", "on", "1")
    raise FormError(f"{field.name}: expected a tick (true or false)")


def _typed(field: FormField, text: str) -> JSONValue:
    if field.kind == "text":
        return text
    if field.kind == "choice":
        if text not in field.choices:
            raise FormError(f"{field.name}: expected one of {', '.join(field.choices)}")
        return text
    if field.kind == "integer":
        plain = text.strip()
        digits = plain.removeprefix("-")
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 30):
            raise FormError(f"{field.name}: expected a whole number, got {text[:40]!r}")
        return int(plain)
    if field.kind == "number":
        try:
            number = float(text.strip()) if text.strip().isascii() else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise FormError(f"{field.name}: expected a number, got {text[:40]!r}")
        return number
    try:
        value: JSONValue = msgspec.json.decode(text.encode("utf-8", "surrogatepass"))
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise FormError(f"{field.name}: not valid JSON ({exc})") from None
    return value
