"""Step outputs: turn a response body from `/ctx` into the step's output JSON and check it
against the step's output schema (as recorded in the resolved workflow).

An `api` step's output is `{"text": <reply>}` (`output_mode` text) or the reply text decoded
as JSON (`json`); a `tool` step's output is the response body; a `thread` step's output is
`{"text": ...}`. The check understands the JSON Schema subset msgspec generates (`$ref`
into `$defs`, `type`, `properties`, `required`, `additionalProperties: false`, `items`,
`prefixItems`, `anyOf`, `enum`, `const`, length/size/number bounds, `pattern`), which is
all a resumed run has of the types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from lightflow_actors.isa import JSONValue

from ._errors import MalformedResponse
from ._formats import api_format, reply_text
from ._json import json_kind
from ._resolved import ResolvedStep

MAX_RESPONSE_BYTES = 32 << 20


def step_output(step: ResolvedStep, body: bytes) -> JSONValue:
    """The output of `step` for response `body`; raises MalformedResponse."""
    if len(body) > MAX_RESPONSE_BYTES:
        raise MalformedResponse(f"step {step.id!r}: response is larger than {MAX_RESPONSE_BYTES}")
    output: JSONValue
    if step.target == "api":
        text = reply_text(api_format(step.address), body)
        output = {"text": text} if step.output_mode == "text" else _decode(step.id, text.encode())
    elif step.target == "thread":
        reply = _decode(step.id, body)
        output = {"text": reply} if isinstance(reply, str) else reply
    else:
        output = _decode(step.id, body)
    problem = schema_problem(output, step.output_schema)
    if problem is not None:
        raise MalformedResponse(f"step {step.id!r} output does not match its schema: {problem}")
    return output


def _decode(step_id: str, data: bytes) -> JSONValue:
    try:
        value: JSONValue = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise MalformedResponse(f"step {step_id!r}: response is not JSON: {exc}") from None
    except RecursionError:
        raise MalformedResponse(f"step {step_id!r}: response nests too deeply") from None
    return value


def schema_problem(
    value: JSONValue,
    schema: Mapping[str, JSONValue],
    root: Mapping[str, JSONValue] | None = None,
    at: str = "$",
) -> str | None:
    """None when `value` matches `schema`, else what is wrong and where (`$.items[2]`)."""
    root = schema if root is None else root
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _follow(ref, root)
        if target is None:
            return f"{at}: unresolvable $ref {ref!r}"
        return schema_problem(value, target, root, at)
    any_of = schema.get("anyOf")
    if isinstance(any_of, list):
        options = [o for o in any_of if isinstance(o, dict)]
        if all(schema_problem(value, o, root, at) is not None for o in options):
            return f"{at}: matches none of the allowed shapes"
        return None
    if "const" in schema and value != schema["const"]:
        return f"{at}: expected {schema['const']!r}"
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return f"{at}: {value!r} is not one of {enum!r}"
    kinds = schema.get("type")
    if kinds is not None:
        allowed = kinds if isinstance(kinds, list) else [kinds]
        kind = json_kind(value)
        if kind not in allowed and not (kind == "integer" and "number" in allowed):
            return f"{at}: expected {' or '.join(map(str, allowed))}, got {kind}"
    bounds = _bounds_problem(value, schema, at)
    if bounds is not None:
        return bounds
    if isinstance(value, dict):
        return _object_problem(value, schema, root, at)
    if isinstance(value, list):
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        for i, item in enumerate(value):
            sub = prefix[i] if isinstance(prefix, list) and i < len(prefix) else items
            if isinstance(sub, dict):
                problem = schema_problem(item, sub, root, f"{at}[{i}]")
                if problem is not None:
                    return problem
    return None


def _object_problem(
    value: dict[str, JSONValue],
    schema: Mapping[str, JSONValue],
    root: Mapping[str, JSONValue],
    at: str,
) -> str | None:
    properties = schema.get("properties")
    props = properties if isinstance(properties, dict) else {}
    required = schema.get("required")
    for name in required if isinstance(required, list) else []:
        if isinstance(name, str) and name not in value:
            return f"{at}: missing required field {name!r}"
    additional = schema.get("additionalProperties")
    extra = sorted(set(value) - set(props))
    if additional is False and extra:
        return f"{at}: unexpected field {extra[0]!r}"
    if isinstance(additional, dict):
        for name in extra:
            problem = schema_problem(value[name], additional, root, f"{at}.{name}")
            if problem is not None:
                return problem
    for name, sub in props.items():
        if name in value and isinstance(sub, dict):
            problem = schema_problem(value[name], sub, root, f"{at}.{name}")
            if problem is not None:
                return problem
    return None


_SIZE_KEYS = {
    str: ("minLength", "maxLength"),
    list: ("minItems", "maxItems"),
    dict: ("minProperties", "maxProperties"),
}


def _bounds_problem(value: JSONValue, schema: Mapping[str, JSONValue], at: str) -> str | None:
    for kind, (low_key, high_key) in _SIZE_KEYS.items():
        if isinstance(value, kind):
            size = len(value)
            low, high = schema.get(low_key), schema.get(high_key)
            if isinstance(low, int) and size < low:
                return f"{at}: size {size} is below {low_key} {low}"
            if isinstance(high, int) and size > high:
                return f"{at}: size {size} is above {high_key} {high}"
    pattern = schema.get("pattern")
    if isinstance(value, str) and isinstance(pattern, str) and not re.search(pattern, value):
        return f"{at}: {value[:40]!r} does not match {pattern!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            bound = schema.get(key)
            if isinstance(bound, int | float) and not _holds(key, value, bound):
                return f"{at}: {value!r} fails {key} {bound!r}"
    return None


def _holds(key: str, value: float, bound: float) -> bool:
    if key == "minimum":
        return value >= bound
    if key == "maximum":
        return value <= bound
    if key == "exclusiveMinimum":
        return value > bound
    if key == "exclusiveMaximum":
        return value < bound
    return bound != 0 and value % bound == 0


def _follow(ref: str, root: Mapping[str, JSONValue]) -> Mapping[str, JSONValue] | None:
    if not ref.startswith("#/"):
        return None
    node: JSONValue = dict(root)
    for token in ref[2:].split("/"):
        if not isinstance(node, dict) or token not in node:
            return None
        node = node[token]
    return node if isinstance(node, dict) else None
