"""Request templates: typed `{root.path}` references compiled against schemas, rendered later.

A template string is split into text and references. `compile_template` type-checks every
reference where it is used and substitutes what is known at resolve time (`inputs`,
`params`); references to step outputs (`{steps.plan.output.text}`) stay as `RefPart`s and
end up as `Binding`s beside the request JSON. `render` fills them at submit time.

Values are never re-scanned for references: an input containing `{steps.x.output}` stays
that literal text, so run inputs cannot inject references (the compiled form keeps text
and references apart).

A string that is exactly one reference takes the referenced value as is (an `int` field
gets an int); otherwise each reference must be a scalar and is formatted into the text
(strings as is, numbers and booleans as JSON).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TypeAlias

import msgspec
import msgspec.inspect as mi

from lightflow_actors.isa import JSONValue

from ._errors import TemplateError
from ._json import canonical_json, json_kind
from ._types import SCALAR_KINDS, field_type, fits, json_kinds, type_name, unwrap

_REFERENCE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_-]+)+)\}")
ROOTS = ("inputs", "params", "steps")


class TextPart(msgspec.Struct, frozen=True, tag="text"):
    """Literal text of an interpolated template."""

    text: str


class RefPart(msgspec.Struct, frozen=True, tag="ref"):
    """A reference to `path` inside the output of step `step`."""

    step: str
    path: tuple[str, ...] = ()


Part = TextPart | RefPart


class Binding(msgspec.Struct, frozen=True):
    """Where (RFC 6901 `pointer`) a step-output-dependent value goes in a request, how it
    is built (`parts`), and which JSON kinds the target field admits (`expect`)."""

    pointer: str
    parts: tuple[Part, ...]
    expect: tuple[str, ...]


class Slot(msgspec.Struct, frozen=True):
    """A compiled value still waiting for step outputs (internal to resolution)."""

    parts: tuple[Part, ...]
    static: mi.Type


# A compiled template value: JSON, with Slots where step outputs will go.
Bound: TypeAlias = "JSONValue | Slot | list[Bound] | dict[str, Bound]"


class StepRef(msgspec.Struct, frozen=True):
    """A step visible to references in a scope: its expanded id and output type."""

    expanded_id: str
    output: mi.Type


class Scope(msgspec.Struct, frozen=True):
    """What references may name: workflow inputs, params of a node/composition, steps."""

    inputs: tuple[mi.Type, JSONValue] | None = None
    params: tuple[mi.Type, dict[str, Bound]] | None = None
    steps: Mapping[str, StepRef] = {}


def compile_template(value: JSONValue, expected: mi.Type, scope: Scope, where: str) -> Bound:
    """Type-check `value` (a template tree) against `expected` and substitute what the
    scope knows. `where` names the field for error messages."""
    expected = unwrap(expected)
    if isinstance(expected, mi.UnionType) and not isinstance(value, str):
        chosen = _union_member(value, expected)
        if chosen is not None:
            expected = chosen
    if isinstance(value, str):
        return _compile_string(value, expected, scope, where)
    if isinstance(value, dict):
        return _compile_object(value, expected, scope, where)
    if isinstance(value, list):
        return _compile_array(value, expected, scope, where)
    kinds = json_kinds(expected)
    if json_kind(value) not in kinds and not (json_kind(value) == "integer" and "number" in kinds):
        raise TemplateError(
            f"{where}: {value!r} is {_a(json_kind(value))}, but the field is {type_name(expected)}"
        )
    if isinstance(expected, mi.LiteralType) and value not in expected.values:
        raise TemplateError(f"{where}: {value!r} is not one of {type_name(expected)}")
    return value


def _union_member(value: JSONValue, union: mi.UnionType) -> mi.Type | None:
    kind = json_kind(value)
    for member in union.types:
        if kind in json_kinds(member):
            return unwrap(member)
    return None


def _compile_object(
    value: dict[str, JSONValue], expected: mi.Type, scope: Scope, where: str
) -> Bound:
    if isinstance(expected, mi.AnyType):
        return {k: compile_template(v, expected, scope, f"{where}.{k}") for k, v in value.items()}
    if isinstance(expected, mi.DictType):
        return {
            k: compile_template(v, expected.value_type, scope, f"{where}.{k}")
            for k, v in value.items()
        }
    if isinstance(expected, mi.StructType | mi.TypedDictType | mi.DataclassType):
        fields = {f.encode_name: f for f in expected.fields}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise TemplateError(
                f"{where}: unknown field {unknown[0]!r} for {type_name(expected)}; "
                f"fields are {', '.join(fields)}"
            )
        missing = [n for n, f in fields.items() if f.required and n not in value]
        if missing:
            raise TemplateError(
                f"{where}: missing required field {missing[0]!r} of {type_name(expected)}"
            )
        return {
            k: compile_template(v, fields[k].type, scope, f"{where}.{k}") for k, v in value.items()
        }
    raise TemplateError(f"{where}: an object was given, but the field is {type_name(expected)}")


def _compile_array(value: list[JSONValue], expected: mi.Type, scope: Scope, where: str) -> Bound:
    if isinstance(expected, mi.AnyType):
        items: list[mi.Type] = [expected] * len(value)
    elif isinstance(expected, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        items = [expected.item_type] * len(value)
    elif isinstance(expected, mi.TupleType) and len(expected.item_types) == len(value):
        items = list(expected.item_types)
    else:
        raise TemplateError(
            f"{where}: an array of {len(value)} was given, but the field is {type_name(expected)}"
        )
    return [
        compile_template(v, t, scope, f"{where}[{i}]")
        for i, (v, t) in enumerate(zip(value, items, strict=True))
    ]


def _compile_string(text: str, expected: mi.Type, scope: Scope, where: str) -> Bound:
    pieces = _split(text)
    if len(pieces) == 1 and not isinstance(pieces[0], str):
        # The whole string is one reference: the field takes the referenced value.
        root, path = pieces[0]
        static, value = _lookup(root, path, scope, where)
        if not fits(static, expected):
            raise TemplateError(
                f"{where}: {{{'.'.join((root, *path))}}} is {type_name(static)}, "
                f"but the field is {type_name(expected)}"
            )
        return value
    parts: list[Part] = []
    for piece in pieces:
        if isinstance(piece, str):
            parts.append(TextPart(piece))
            continue
        root, path = piece
        static, value = _lookup(root, path, scope, where)
        if not json_kinds(static) <= SCALAR_KINDS:
            raise TemplateError(
                f"{where}: {{{'.'.join((root, *path))}}} is {type_name(static)}; only str, "
                "int, float or bool can be formatted into text (reference it as the whole "
                "string to pass the value itself)"
            )
        parts.extend(_as_parts(value))
    if not fits(mi.StrType(), expected) and not isinstance(expected, mi.LiteralType):
        raise TemplateError(f"{where}: text was given, but the field is {type_name(expected)}")
    merged = _merge(parts)
    if all(isinstance(p, TextPart) for p in merged):
        literal = "".join(p.text for p in merged if isinstance(p, TextPart))
        if isinstance(expected, mi.LiteralType) and literal not in expected.values:
            raise TemplateError(f"{where}: {literal!r} is not one of {type_name(expected)}")
        return literal
    return Slot(parts=tuple(merged), static=mi.StrType())


def _split(text: str) -> list[str | tuple[str, tuple[str, ...]]]:
    pieces: list[str | tuple[str, tuple[str, ...]]] = []
    last = 0
    for match in _REFERENCE.finditer(text):
        if match.start() > last:
            pieces.append(text[last : match.start()])
        pieces.append((match.group(1), tuple(match.group(2)[1:].split("."))))
        last = match.end()
    if last < len(text) or not pieces:
        pieces.append(text[last:])
    return pieces


def _lookup(root: str, path: tuple[str, ...], scope: Scope, where: str) -> tuple[mi.Type, Bound]:
    shown = "{" + ".".join((root, *path)) + "}"
    if root == "inputs" and scope.inputs is not None:
        schema, values = scope.inputs
        static = _static(schema, path, shown, where)
        known = _walk_known(values, path)
        if known is None and "null" not in json_kinds(static):
            # A key a mapping's type allows but these inputs do not have: a `str` slot
            # would otherwise render null.
            raise TemplateError(f"{where}: {shown} is not in the inputs given")
        return static, known
    if root == "params" and scope.params is not None:
        schema, bound = scope.params
        static = _static(schema, path, shown, where)
        return static, _walk_bound(bound, path, static)
    if root == "steps":
        if len(path) < 2 or path[1] != "output":
            raise TemplateError(f"{where}: {shown} must read steps.<step id>.output[.field...]")
        step = scope.steps.get(path[0])
        if step is None:
            known = ", ".join(scope.steps) or "none"
            raise TemplateError(f"{where}: {shown} names unknown step {path[0]!r}; steps: {known}")
        static = _static(step.output, path[2:], shown, where)
        return static, Slot(parts=(RefPart(step.expanded_id, path[2:]),), static=static)
    usable = [r for r in ROOTS if r != "params" or scope.params is not None]
    usable = [r for r in usable if r != "inputs" or scope.inputs is not None]
    raise TemplateError(f"{where}: {shown} has unknown root {root!r} here; use {', '.join(usable)}")


def _static(schema: mi.Type, path: Sequence[str], shown: str, where: str) -> mi.Type:
    try:
        return field_type(schema, path)
    except KeyError as exc:
        raise TemplateError(
            f"{where}: {shown} has no field {exc.args[0]!r} (in {type_name(schema)})"
        ) from None


def _walk_known(value: JSONValue, path: Sequence[str]) -> JSONValue:
    for segment in path:
        if isinstance(value, dict):
            value = value.get(segment)
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return None  # an optional field left out: the static type admits None
    return value


def _walk_bound(value: Bound, path: Sequence[str], static: mi.Type) -> Bound:
    for i, segment in enumerate(path):
        if isinstance(value, Slot):
            # Only a whole-value reference can have fields (text has none: the static
            # walk in `_lookup` already refused that), so extend its path.
            ref = value.parts[0]
            assert isinstance(ref, RefPart) and len(value.parts) == 1
            return Slot(parts=(RefPart(ref.step, ref.path + tuple(path[i:])),), static=static)
        if isinstance(value, dict):
            value = value.get(segment)
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return None
    return value


def _as_parts(value: Bound) -> list[Part]:
    if isinstance(value, Slot):
        return list(value.parts)
    return [TextPart(_format_scalar(value))]


def _format_scalar(value: object) -> str:
    return value if isinstance(value, str) else canonical_json(value).decode()


def _merge(parts: list[Part]) -> list[Part]:
    merged: list[Part] = []
    for part in parts:
        if isinstance(part, TextPart) and merged and isinstance(merged[-1], TextPart):
            merged[-1] = TextPart(merged[-1].text + part.text)
        elif not (isinstance(part, TextPart) and part.text == ""):
            merged.append(part)
    return merged


def bound_refs(value: Bound) -> list[RefPart]:
    """Every step reference left in a compiled value."""
    if isinstance(value, Slot):
        return [p for p in value.parts if isinstance(p, RefPart)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in bound_refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in bound_refs(v)]
    return []


def finalize(value: Bound) -> tuple[JSONValue, tuple[Binding, ...]]:
    """Split a compiled value into request JSON (null where step outputs go) and bindings."""
    bindings: list[Binding] = []

    def walk(node: Bound, pointer: str) -> JSONValue:
        if isinstance(node, Slot):
            kinds = json_kinds(node.static)
            bindings.append(Binding(pointer, node.parts, tuple(sorted(kinds))))
            return None
        if isinstance(node, dict):
            return {k: walk(v, f"{pointer}/{_escape(k)}") for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{pointer}/{i}") for i, v in enumerate(node)]
        return node

    return walk(value, ""), tuple(bindings)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def render(
    request: JSONValue, bindings: Sequence[Binding], outputs: Mapping[str, JSONValue]
) -> JSONValue:
    """Fill `bindings` into a copy of `request` from step `outputs` (decoded JSON)."""
    result = _copy_json(request)
    for binding in bindings:
        value = _render_binding(binding, outputs)
        if binding.pointer == "":
            result = value
            continue
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in binding.pointer[1:].split("/")]
        parent = result
        for token in tokens[:-1]:
            parent = _child(parent, token)
        if isinstance(parent, list):
            parent[int(tokens[-1])] = value
        elif isinstance(parent, dict):
            parent[tokens[-1]] = value
    return result


def _copy_json(value: JSONValue) -> JSONValue:
    """A copy of a decoded JSON value whose lists and objects can be filled in place
    (strings, numbers and the rest are immutable and shared): `copy.deepcopy`'s result,
    without its memo and dispatch, once per step on the run's loop."""
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value


def _child(node: JSONValue, token: str) -> JSONValue:
    if isinstance(node, list):
        return node[int(token)]
    if isinstance(node, dict):
        return node[token]
    raise TemplateError(f"binding pointer passes through a {json_kind(node)}")


def _render_binding(binding: Binding, outputs: Mapping[str, JSONValue]) -> JSONValue:
    if len(binding.parts) == 1 and isinstance(binding.parts[0], RefPart):
        value = _output_at(binding.parts[0], outputs)
        kind = json_kind(value)
        if kind not in binding.expect and not (kind == "integer" and "number" in binding.expect):
            raise TemplateError(
                f"request field {binding.pointer or '/'}: step {binding.parts[0].step!r} output "
                f"is {_a(kind)}, but the field admits {', '.join(binding.expect)}"
            )
        return value
    text: list[str] = []
    for part in binding.parts:
        if isinstance(part, TextPart):
            text.append(part.text)
            continue
        value = _output_at(part, outputs)
        if json_kind(value) not in SCALAR_KINDS:
            raise TemplateError(
                f"request field {binding.pointer or '/'}: step {part.step!r} output "
                f"{'.'.join(part.path) or '(whole)'} is {_a(json_kind(value))}; only scalars can "
                "be formatted into text"
            )
        text.append(_format_scalar(value))
    return "".join(text)


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _output_at(ref: RefPart, outputs: Mapping[str, JSONValue]) -> JSONValue:
    if ref.step not in outputs:
        raise TemplateError(f"step {ref.step!r} has no output yet; it must succeed first")
    value = outputs[ref.step]
    for segment in ref.path:
        if isinstance(value, dict) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            raise TemplateError(
                f"step {ref.step!r} output has no field {'.'.join(ref.path)!r} "
                f"(missing {segment!r})"
            )
    return value
