"""Provider assets: typed Python functions under `<assets>/providers/`, marked `@provider`.

    @provider(thread="shout")
    async def shout(req: Said) -> Said:
        return Said(req.text.upper())

The decorator names what the function answers (`api` formats, `tool`s, `thread`s) and,
optionally, the provider `name` (default: the function's), `model`, `concurrency` and
`blocking`. The runs host routes those names to the function without a config entry
(ADR 0102). Discovery is static, like asset listing (ADR 0061): `scan_provider_assets`
parses each file with `ast` and evaluates only the decorator's literal arguments, so a
listing never executes the file. A file that cannot be read that way, a decorator that is
misused (a wrong signature, a non-literal argument, nothing routed) and a name or route
declared twice are `ProviderProblem`s beside the good providers; a duplicate is taken from
neither file.

A *node* is the same idea for a workflow step (ADR 0102, §Nodes): a typed function in
`<assets>/nodes/*.py` marked `@node`,

    @node
    def shout(req: Said) -> Said:
        return Said(req.text + "!")

is at once a node asset (id `shout`, listed from the file's `ast` like any asset; its
params are the request struct, its output the answer struct; `node_definition`) and the
provider of tool `shout` that runs it. A workflow uses it as any node:
`Use(id="s1", asset="shout", params={"text": "{inputs.seed}"})`.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Literal, TypeVar, overload

import msgspec

from ._assets import MAX_ASSET_BYTES
from ._nodes import (
    NODE_ATTR,
    ProviderDeclarationError,
    is_marker,
    node_definition,
    node_literals,
    node_types,
    signature_problem,
)

__all__ = [
    "NODES_FOLDER",
    "PROVIDERS_FOLDER",
    "ProviderAsset",
    "ProviderAssetListing",
    "ProviderDecl",
    "ProviderDeclarationError",
    "ProviderProblem",
    "node",
    "node_definition",
    "provider",
    "provider_decl",
    "scan_provider_assets",
]

PROVIDERS_FOLDER = "providers"
NODES_FOLDER = "nodes"
_ATTR = "__lightflow_provider__"
_NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ROUTE = r"^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,127})$"
RouteName = Annotated[str, msgspec.Meta(pattern=_ROUTE)]
ProviderName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
ProviderFailureKind = Literal["syntax", "decorator", "signature", "duplicate"]
F = TypeVar("F", bound=Callable[..., object])


class ProviderDecl(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The decorator's arguments: what the provider answers and how."""

    name: ProviderName
    api: tuple[RouteName, ...] = ()
    tool: tuple[RouteName, ...] = ()
    thread: tuple[RouteName, ...] = ()
    model: str = ""
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=256)] | None = None
    blocking: bool = False

    def routes(self) -> list[tuple[Literal["api", "tool", "thread"], str]]:
        return [
            *(("api", n) for n in self.api),
            *(("tool", n) for n in self.tool),
            *(("thread", n) for n in self.thread),
        ]


class ProviderAsset(msgspec.Struct, frozen=True):
    """One listed provider: its declaration, the function, and where it is."""

    decl: ProviderDecl
    function: str
    is_async: bool
    path: str
    line: int
    root: str

    @property
    def target(self) -> str:
        """`file.py:function`, what a `python` provider config names."""
        return f"{self.path}:{self.function}"


class ProviderProblem(msgspec.Struct, frozen=True):
    """A provider that could not be taken: where, why (`failure`), and the message."""

    path: str
    line: int
    failure: ProviderFailureKind
    error: str


class ProviderAssetListing(msgspec.Struct, frozen=True):
    providers: list[ProviderAsset]
    problems: list[ProviderProblem]


def provider(
    name: str | None = None,
    *,
    api: str | Iterable[str] = (),
    tool: str | Iterable[str] = (),
    thread: str | Iterable[str] = (),
    model: str = "",
    concurrency: int | None = None,
    blocking: bool = False,
) -> Callable[[F], F]:
    """Mark `fn(request) -> answer` as a provider answering the named routes.

    The request parameter is the raw `ProviderRequest` or a `msgspec.Struct` the request
    body is converted to; a Struct answer is sent as JSON. An `async def` is awaited side
    by side with others (its `concurrency`, default 16)."""

    def mark(fn: F) -> F:
        if not callable(fn):
            raise ProviderDeclarationError("@provider(...) decorates a function")
        problem = signature_problem(inspect.signature(fn))
        if problem:
            raise ProviderDeclarationError(f"@provider {fn.__name__}: {problem}")
        try:
            decl = msgspec.convert(
                {
                    "name": name or fn.__name__,
                    "api": _names(api),
                    "tool": _names(tool),
                    "thread": _names(thread),
                    "model": model,
                    "concurrency": concurrency,
                    "blocking": blocking,
                },
                ProviderDecl,
            )
        except msgspec.ValidationError as exc:
            raise ProviderDeclarationError(f"@provider {fn.__name__}: {exc}") from None
        if not decl.routes():
            raise ProviderDeclarationError(f"@provider {fn.__name__}: {_NO_ROUTES}")
        setattr(fn, _ATTR, decl)
        return fn

    return mark


@overload
def node(fn: F, /) -> F: ...


@overload
def node(
    *, id: str | None = None, concurrency: int | None = None, blocking: bool = False
) -> Callable[[F], F]: ...


def node(
    fn: F | None = None,
    /,
    *,
    id: str | None = None,
    concurrency: int | None = None,
    blocking: bool = False,
) -> Callable[[F], F] | F:
    """Mark `fn(params: In) -> Out` (both `msgspec.Struct`s) as a node: an asset `id`
    (default: the function's name) whose step sends tool `id` the params and checks the
    answer against `Out`, and the provider of that tool. `@node` or `@node(id=...)`."""

    def mark(target: F) -> F:
        name = id or str(getattr(target, "__name__", ""))
        if not _NODE_ID.fullmatch(name):
            raise ProviderDeclarationError(
                f"@node id {name!r} must match [A-Za-z0-9][A-Za-z0-9._-]{{0,63}}"
            )
        try:
            decl = msgspec.convert(
                {"name": name, "tool": (name,), "concurrency": concurrency, "blocking": blocking},
                ProviderDecl,
            )
        except msgspec.ValidationError as exc:
            raise ProviderDeclarationError(f"@node {name}: {exc}") from None
        node_types(target, name)  # raises on a signature a node cannot have
        setattr(target, _ATTR, decl)
        setattr(target, NODE_ATTR, name)
        return target

    return mark if fn is None else mark(fn)


def _names(names: str | Iterable[str]) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)


def provider_decl(fn: object) -> ProviderDecl | None:
    """The declaration `@provider` attached to `fn`, if any."""
    decl = getattr(fn, _ATTR, None)
    return decl if isinstance(decl, ProviderDecl) else None


_MARKED: tuple[tuple[str, Literal["provider", "node"]], ...] = (
    (PROVIDERS_FOLDER, "provider"),
    (NODES_FOLDER, "node"),
)
_NO_ROUTES = "routes nothing; name at least one of api=, tool=, thread="


def scan_provider_assets(roots: Iterable[Path]) -> ProviderAssetListing:
    """Every `@provider` function under `<root>/providers/*.py` and every `@node` function
    under `<root>/nodes/*.py` (the provider of its tool), read without running them."""
    found: list[ProviderAsset] = []
    problems: list[ProviderProblem] = []
    for root in roots:
        for folder_name, marker in _MARKED:
            folder = root / folder_name
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.py")):
                if marker == "node" and path.name.startswith("_"):
                    continue  # as the asset catalog skips it
                _scan_file(path, root, found, problems, marker)
    return ProviderAssetListing(*_drop_duplicates(found, problems))


def _scan_file(
    path: Path,
    root: Path,
    found: list[ProviderAsset],
    problems: list[ProviderProblem],
    marker: Literal["provider", "node"] = "provider",
) -> None:
    def problem(line: int, failure: ProviderFailureKind, error: str) -> None:
        problems.append(ProviderProblem(str(path), line, failure, f"{error} (failure: {failure})"))

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return problem(1, "syntax", f"cannot read the provider file: {exc}")
    if len(raw) > MAX_ASSET_BYTES:
        return problem(1, "syntax", f"provider file is larger than {MAX_ASSET_BYTES} bytes")
    try:
        tree = ast.parse(raw, filename=str(path))
    except SyntaxError as exc:
        return problem(exc.lineno or 1, "syntax", f"syntax error: {exc.msg}")
    except (ValueError, RecursionError, MemoryError) as exc:
        return problem(1, "syntax", f"not a Python source file: {type(exc).__name__}")
    functions = [s for s in tree.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)]
    if marker == "node":
        nodes = [s for s in functions if any(is_marker(d, "node") for d in s.decorator_list)]
        if len(nodes) > 1:  # the asset catalog refuses the file as well
            return problem(nodes[1].lineno, "decorator", "one @node function per file")
    for stmt in functions:
        marks = [d for d in stmt.decorator_list if is_marker(d, marker)]
        if not marks:
            continue
        if len(marks) > 1:
            problem(stmt.lineno, "decorator", f"{stmt.name} is decorated @{marker} twice")
            continue
        try:
            if marker == "provider":
                decl = _decl(marks[0], stmt.name)
            else:
                decl = _node_decl(marks[0], stmt)
        except ValueError as exc:
            problem(marks[0].lineno, "decorator", f"@{marker} {stmt.name}: {exc}")
            continue
        if not decl.routes():
            problem(stmt.lineno, "decorator", f"@provider {stmt.name}: {_NO_ROUTES}")
            continue
        bad = _static_signature_problem(stmt.args)
        if bad:
            problem(stmt.lineno, "signature", f"@provider {stmt.name}: {bad}")
            continue
        found.append(
            ProviderAsset(
                decl=decl,
                function=stmt.name,
                is_async=isinstance(stmt, ast.AsyncFunctionDef),
                path=str(path),
                line=stmt.lineno,
                root=str(root),
            )
        )
    return None


def _node_decl(mark: ast.expr, stmt: ast.FunctionDef | ast.AsyncFunctionDef) -> ProviderDecl:
    fields = node_literals(mark, stmt.name)
    if (
        stmt.returns is None
        or not (stmt.args.posonlyargs or stmt.args.args)
        or ([*stmt.args.posonlyargs, *stmt.args.args][0].annotation is None)
    ):
        raise ValueError("annotate the parameter and the return with msgspec.Structs")
    name = fields.pop("id")
    try:
        return msgspec.convert({"name": name, "tool": (name,), **fields}, ProviderDecl)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None


def _decl(node: ast.expr, function: str) -> ProviderDecl:
    fields: dict[str, object] = {"name": function}
    if isinstance(node, ast.Call):
        if len(node.args) > 1 or any(isinstance(a, ast.Starred) for a in node.args):
            raise ValueError("takes the name as its only positional argument")
        items: list[tuple[str | None, ast.expr]] = [("name", a) for a in node.args]
        items += [(k.arg, k.value) for k in node.keywords]
        for key, value in items:
            if key is None:
                raise ValueError("**kwargs cannot be read without running the file")
            try:
                literal = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise ValueError(
                    f"{key}= must be a literal (no names, calls or f-strings)"
                ) from None
            if key in ("api", "tool", "thread") and isinstance(literal, str):
                literal = (literal,)
            fields[key] = literal
    try:
        return msgspec.convert(fields, ProviderDecl)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None


def _static_signature_problem(args: ast.arguments) -> str | None:
    positional = [*args.posonlyargs, *args.args]
    required = len(positional) - len(args.defaults)
    required_kw = [a for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None]
    if required != 1 or required_kw:
        return "a provider takes exactly one argument, the request: def fn(req: T) -> R"
    return None


def _drop_duplicates(
    found: list[ProviderAsset], problems: list[ProviderProblem]
) -> tuple[list[ProviderAsset], list[ProviderProblem]]:
    by_name: dict[str, list[ProviderAsset]] = {}
    by_route: dict[tuple[str, str], list[ProviderAsset]] = {}
    for asset in found:
        by_name.setdefault(asset.decl.name, []).append(asset)
        for route in asset.decl.routes():
            by_route.setdefault(route, []).append(asset)
    dropped: set[int] = set()
    for key, assets in [
        *((f"provider {n!r}", a) for n, a in by_name.items()),
        *((f"route {k}/{n}", a) for (k, n), a in by_route.items()),
    ]:
        if len({id(a) for a in assets}) < 2:
            continue
        where = ", ".join(f"{a.path}:{a.line}" for a in assets)
        for asset in assets:
            if id(asset) not in dropped:
                problems.append(
                    ProviderProblem(
                        asset.path,
                        asset.line,
                        "duplicate",
                        f"{key} is declared more than once ({where}); taken from neither "
                        "(failure: duplicate)",
                    )
                )
            dropped.add(id(asset))
    return [a for a in found if id(a) not in dropped], problems
