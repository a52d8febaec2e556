"""Typed node functions (`@node`, ADR 0102 §Nodes): what the asset catalog, the evaluator
and the provider scan share, kept apart from `_assets` and `_provider_assets` so each can
import it.

A node function is `def fn(params: In) -> Out` with `In` and `Out` `msgspec.Struct`s. Its
asset is `node_definition(fn)`; its id and arguments are read from the file's `ast` by
`node_marks`/`node_literals` for listings, which never execute it.
"""

from __future__ import annotations

import ast
import inspect
import typing

import msgspec

from ._definition import Node, ToolStep

__all__ = [
    "NODE_ATTR",
    "ProviderDeclarationError",
    "is_marker",
    "node_definition",
    "node_literals",
    "node_marks",
    "node_types",
    "signature_problem",
]

NODE_ATTR = "__lightflow_node__"


class ProviderDeclarationError(TypeError):
    """`@provider` or `@node` was applied wrongly (raised at import, in the process
    importing it)."""


def node_types(fn: object, name: str) -> tuple[type[msgspec.Struct], type[msgspec.Struct]]:
    """`fn`'s params and answer structs; `ProviderDeclarationError` when it has none."""
    if not callable(fn):
        raise ProviderDeclarationError("@node decorates a function")
    problem = signature_problem(inspect.signature(fn))
    if problem:
        raise ProviderDeclarationError(f"@node {name}: {problem}")
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # an annotation that does not resolve
        raise ProviderDeclarationError(f"@node {name}: its annotations: {exc!r}") from None
    first = next(iter(inspect.signature(fn).parameters))
    params, answer = hints.get(first), hints.get("return")
    for what, shape in (("its parameter", params), ("its return", answer)):
        if not (isinstance(shape, type) and issubclass(shape, msgspec.Struct)):
            raise ProviderDeclarationError(
                f"@node {name}: {what} must be annotated with a msgspec.Struct, got {shape!r}"
            )
    return params, answer  # type: ignore[return-value]


def node_definition(fn: object) -> Node | None:
    """The node asset `@node` made of `fn` (None when `fn` is not one): params the
    request struct, one `ToolStep` (named after the function) sending tool `<id>` every
    param as is and checking the answer against the return struct."""
    name = getattr(fn, NODE_ATTR, None)
    if not isinstance(name, str):
        return None
    params, answer = node_types(fn, name)
    fields = msgspec.structs.fields(params)
    return Node(
        params=params,
        step=ToolStep(
            id=getattr(fn, "__name__", name),
            tool=name,
            input=params,
            output=answer,
            request={f.encode_name: f"{{params.{f.encode_name}}}" for f in fields},
        ),
    )


def signature_problem(sig: inspect.Signature) -> str | None:
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    required_kw = [
        p for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY and p.default is p.empty
    ]
    if len(positional) != 1 or required_kw:
        return "a provider takes exactly one argument, the request: def fn(req: T) -> R"
    return None


def is_marker(node: ast.expr, marker: str) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id == marker
    return isinstance(target, ast.Attribute) and target.attr == marker


def node_marks(stmt: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    """The `@node` decorators of a function definition."""
    return [d for d in stmt.decorator_list if is_marker(d, "node")]


def node_literals(mark: ast.expr, function: str) -> dict[str, object]:
    """`@node(...)`'s keyword literals (`id` defaulting to the function's name); raises
    `ValueError` for what cannot be read without running the file."""
    fields: dict[str, object] = {"id": function}
    if isinstance(mark, ast.Call):
        if mark.args:
            raise ValueError("takes keyword arguments only: @node(id=..., concurrency=...)")
        for keyword in mark.keywords:
            if keyword.arg is None:
                raise ValueError("**kwargs cannot be read without running the file")
            try:
                fields[keyword.arg] = ast.literal_eval(keyword.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise ValueError(
                    f"{keyword.arg}= must be a literal (no names, calls or f-strings)"
                ) from None
    unknown = set(fields) - {"id", "concurrency", "blocking"}
    if unknown:
        raise ValueError(f"unknown arguments {sorted(unknown)}; known: id, concurrency, blocking")
    return fields
