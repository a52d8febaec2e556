"""Asset discovery: read each asset file's `METADATA` literal without running the file.

Layout: `<root>/{models,nodes,compositions,workflows,presets,policies}/*.py`. A catalog
reads one base root (the shipped `assets/`, or the runs config's `assets`) and any overlay
roots (`$LIGHTFLOW_ASSETS`): an overlay asset shadows the base asset of the same id, and
an id declared in two overlay files is a `duplicate` problem naming both. Listing
parses every file with `ast` and evaluates only the `METADATA = {...}` literal
(`ast.literal_eval`), so listing never executes asset code. A file that cannot be read
that way is an `AssetProblem` of the catalog, beside the good assets: one bad file never
hides the others. Executing a file to get its `DEFINITION` is the separate, explicit
`AssetCatalog.load()`, which only the evaluator process calls (`_evaluation.py`).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal, TypeVar

import msgspec

from ._definition import Composition, Definition, Model, Node, Policy, Preset, Workflow
from ._errors import (
    AssetDefinitionError,
    AssetError,
    AssetFailure,
    AssetKindMismatch,
    AssetLoadError,
    AssetMemoryExceeded,
    AssetSyntaxError,
    DuplicateAssetId,
    Invalid,
    MalformedMetadata,
    UnknownAsset,
)
from ._nodes import NODE_ATTR, ProviderDeclarationError, node_definition, node_literals, node_marks

AssetKind = Literal["model", "node", "composition", "workflow", "preset", "policy"]
Stability = Literal["draft", "experimental", "stable"]

FOLDERS: dict[str, AssetKind] = {
    "models": "model",
    "nodes": "node",
    "compositions": "composition",
    "workflows": "workflow",
    "presets": "preset",
    "policies": "policy",
}
_DEFINITION_TYPES: dict[AssetKind, type[Definition]] = {
    "model": Model,
    "node": Node,
    "composition": Composition,
    "workflow": Workflow,
    "preset": Preset,
    "policy": Policy,
}
_ASSET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_ASSET_BYTES = 1 << 20

D = TypeVar("D", Workflow, Composition, Node, Model, Preset, Policy)


class AssetMetadata(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The literal every asset file declares as `METADATA`."""

    id: str
    title: str
    kind: AssetKind
    description: str
    stability: Stability


class AssetInfo(msgspec.Struct, frozen=True):
    """One listed asset: its metadata and where it was declared (root folder included)."""

    id: str
    title: str
    kind: AssetKind
    description: str
    stability: Stability
    path: str
    line: int
    root: str = ""  # the asset folder (base or overlay) the file is in
    shadows: str | None = None  # the path of the base asset of this id it hides


class AssetProblem(msgspec.Struct, frozen=True):
    """An asset file that could not be taken: where (`line` 1: no line to blame), the kind
    its folder holds, the failure, and the error message."""

    path: str
    line: int
    kind: AssetKind
    failure: AssetFailure
    error: str

    @classmethod
    def of(cls, error: AssetError, kind: AssetKind) -> AssetProblem:
        return cls(str(error.path), error.line, kind, error.failure, str(error))


class AssetListing(msgspec.Struct, frozen=True):
    """`assets`: the good assets (sorted by id) and the files that could not be read."""

    assets: list[AssetInfo]
    problems: list[AssetProblem]


def read_metadata(path: Path, expected_kind: AssetKind | None = None) -> AssetInfo:
    """Parse `path` and evaluate its `METADATA` literal; never executes the file."""
    return _read_metadata(path, expected_kind, path.parent.parent)[0]


def file_digest(raw: bytes) -> str:
    """The content hash the catalog and the evaluator's cache key files by."""
    return hashlib.sha256(raw).hexdigest()


def _read_metadata(
    path: Path, expected_kind: AssetKind | None, root: Path
) -> tuple[AssetInfo, str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MalformedMetadata(path, 1, f"cannot read the asset file: {exc}") from None
    if len(raw) > MAX_ASSET_BYTES:
        raise MalformedMetadata(path, 1, f"asset file is larger than {MAX_ASSET_BYTES} bytes")
    try:
        tree = ast.parse(raw, filename=str(path))
    except SyntaxError as exc:
        raise AssetSyntaxError(path, exc.lineno or 1, f"syntax error: {exc.msg}") from None
    except ValueError as exc:  # e.g. NUL bytes in the source
        raise AssetSyntaxError(path, 1, f"not a Python source file: {exc}") from None
    if expected_kind == "node" and not _assigns_metadata(tree):
        decorated = _node_function(path, tree)
        if decorated is not None:  # `@node def fn(...)`: the function is the asset
            return _node_function_info(path, root, *decorated), file_digest(raw)
    node = _metadata_node(path, tree)
    try:
        literal = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise MalformedMetadata(
            path,
            node.lineno,
            "METADATA must be a plain literal (dict of strings); no names, calls or f-strings",
        ) from None
    try:
        meta = msgspec.convert(literal, AssetMetadata)
    except msgspec.ValidationError as exc:
        raise MalformedMetadata(path, node.lineno, f"METADATA is invalid: {exc}") from None
    if not _ASSET_ID.fullmatch(meta.id):
        raise MalformedMetadata(
            path,
            node.lineno,
            f"asset id {meta.id!r} must match [A-Za-z0-9][A-Za-z0-9._-]{{0,127}}",
        )
    if expected_kind is not None and meta.kind != expected_kind:
        raise AssetKindMismatch(
            path,
            node.lineno,
            f"kind {meta.kind!r} does not match its folder, which holds {expected_kind!r} "
            "assets; move the file or fix the kind",
        )
    info = AssetInfo(
        id=meta.id,
        title=meta.title,
        kind=meta.kind,
        description=meta.description,
        stability=meta.stability,
        path=str(path),
        line=node.lineno,
        root=str(root),
    )
    return info, file_digest(raw)


def _assigns_metadata(tree: ast.Module) -> bool:
    for stmt in tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else []
        if isinstance(stmt, ast.AnnAssign):
            targets = [stmt.target]
        if any(isinstance(t, ast.Name) and t.id == "METADATA" for t in targets):
            return True
    return False


NodeFunction = tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.expr]


def _node_function(path: Path, tree: ast.Module) -> NodeFunction | None:
    """The file's one top-level `@node` function and its decorator, if it has any."""
    found: list[NodeFunction] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            found += [(stmt, mark) for mark in node_marks(stmt)]
    if len(found) > 1:
        raise MalformedMetadata(
            path, found[1][0].lineno, "one @node function per file (the file is one asset)"
        )
    return found[0] if found else None


def _node_function_info(
    path: Path, root: Path, stmt: ast.FunctionDef | ast.AsyncFunctionDef, mark: ast.expr
) -> AssetInfo:
    """A `@node` function's listing: id from `@node(id=...)` or the function's name, its
    docstring's first line as the description; read from the `ast`, never run."""
    try:
        asset_id = node_literals(mark, stmt.name)["id"]
    except ValueError as exc:
        raise MalformedMetadata(path, mark.lineno, f"@node {stmt.name}: {exc}") from None
    if not isinstance(asset_id, str) or not _ASSET_ID.fullmatch(asset_id) or len(asset_id) > 64:
        raise MalformedMetadata(
            path,
            mark.lineno,
            f"@node id {asset_id!r} must match [A-Za-z0-9][A-Za-z0-9._-]{{0,63}}",
        )
    doc = ast.get_docstring(stmt) or ""
    return AssetInfo(
        id=asset_id,
        title=stmt.name,
        kind="node",
        description=doc.strip().splitlines()[0] if doc.strip() else "",
        stability="stable",
        path=str(path),
        line=stmt.lineno,
        root=str(root),
    )


def _metadata_node(path: Path, tree: ast.Module) -> ast.expr:
    found: list[ast.expr] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == "METADATA" for t in stmt.targets):
                if len(stmt.targets) != 1:
                    raise MalformedMetadata(path, stmt.lineno, "assign METADATA on its own")
                found.append(stmt.value)
        elif (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and stmt.target.id == "METADATA"
            and stmt.value is not None
        ):
            found.append(stmt.value)
    if not found:
        raise MalformedMetadata(path, 1, "no top-level METADATA = {...} literal")
    if len(found) > 1:
        raise MalformedMetadata(path, found[1].lineno, "METADATA is assigned more than once")
    return found[0]


class AssetCatalog:
    """The assets under a root folder (and its overlays), indexed by id (unique across all
    kinds), and the files that could not be read (`problems`).

    >>> catalog = AssetCatalog.scan(Path("assets"))
    >>> [a.id for a in catalog.list("workflow")]  # doctest: +SKIP
    """

    def __init__(
        self,
        root: Path,
        assets: Iterable[AssetInfo],
        problems: Iterable[AssetProblem] = (),
        digests: Mapping[str, str] | None = None,
        overlays: Sequence[Path] = (),
    ) -> None:
        self.root = root
        self.overlays = tuple(overlays)
        self.problems: list[AssetProblem] = list(problems)
        # path -> sha256 of the content the metadata was read from (empty: not known).
        self.digests: dict[str, str] = dict(digests or {})
        self._by_id: dict[str, AssetInfo] = {}
        clashing: dict[str, list[AssetInfo]] = {}
        for info in assets:
            first = self._by_id.get(info.id)
            if first is None and info.id not in clashing:
                self._by_id[info.id] = info
            else:
                clashing.setdefault(info.id, [first] if first is not None else []).append(info)
                self._by_id.pop(info.id, None)
        # An id declared twice is ambiguous: neither file is taken, both are named.
        for asset_id, infos in clashing.items():
            places = ", ".join(f"{i.path}:{i.line}" for i in infos)
            hidden = next((i.shadows for i in infos if i.shadows), None)
            note = f"; the asset of that id in {hidden} stays hidden meanwhile" if hidden else ""
            for info in infos:
                error = DuplicateAssetId(
                    Path(info.path),
                    info.line,
                    f"asset id {asset_id!r} is declared by several files ({places}); "
                    f"asset ids must be unique: rename or remove all but one{note}",
                )
                self.problems.append(AssetProblem.of(error, info.kind))
        self.problems.sort(key=lambda p: (p.path, p.line))
        # Loaded definitions keyed by (path, sha256): an edited file reloads.
        self._loaded: dict[tuple[str, str], Definition] = {}
        self.loaded_files: dict[str, str] = {}  # path -> sha256 of each file executed

    @classmethod
    def scan(cls, root: Path, overlays: Sequence[Path] = ()) -> AssetCatalog:
        """Read the metadata of every `*.py` in the kind folders of `root` and of each
        overlay (files named `_*` skipped); a file that cannot be read becomes a problem,
        never an error of the whole scan. An overlay asset shadows the `root` asset of the
        same id; the same id in two overlay files is a `duplicate` problem (neither taken)."""
        found, problems, digests = _scan_root(root)
        if overlays:
            added: list[AssetInfo] = []
            for overlay in overlays:
                more, more_problems, more_digests = _scan_root(overlay)
                added.extend(more)
                problems.extend(more_problems)
                digests.update(more_digests)
            shadowed = {info.id for info in added}
            base = {info.id: info for info in found}
            found = [info for info in found if info.id not in shadowed]
            for info in added:
                hidden = base.get(info.id)
                found.append(
                    info if hidden is None else msgspec.structs.replace(info, shadows=hidden.path)
                )
            for info in base.values():
                if info.id in shadowed:
                    digests.pop(info.path, None)
        return cls(root, found, problems, digests, overlays)

    @property
    def digest(self) -> str:
        """One hash of every readable asset file's content and of the problems: equal
        digests mean an equal catalog (the evaluator's cache key)."""
        h = hashlib.sha256()
        for path, digest in sorted(self.digests.items()):
            h.update(f"{path}\0{digest}\n".encode())
        for problem in self.problems:
            h.update(f"{problem.path}\0{problem.failure}\0{problem.error}\n".encode())
        return h.hexdigest()

    def list(self, kind: AssetKind | None = None) -> list[AssetInfo]:
        """Assets of `kind` (all when None), sorted by id."""
        infos = (i for i in self._by_id.values() if kind is None or i.kind == kind)
        return sorted(infos, key=lambda i: i.id)

    def listing(self, kind: AssetKind | None = None) -> AssetListing:
        """The assets of `kind` and the problems of the files in its folder."""
        problems = [p for p in self.problems if kind is None or p.kind == kind]
        return AssetListing(self.list(kind), problems)

    def info(self, asset_id: str, kind: AssetKind | None = None) -> AssetInfo:
        info = self._by_id.get(asset_id)
        if info is None or (kind is not None and info.kind != kind):
            what = f"{kind} asset" if kind else "asset"
            known = ", ".join(a.id for a in self.list(kind)) or "none"
            unread = [p for p in self.problems if kind is None or p.kind == kind]
            note = ""
            if unread:
                note = f"; {len(unread)} {what} file(s) could not be read: " + "; ".join(
                    p.error for p in unread[:3]
                )
            raise UnknownAsset(f"no {what} {asset_id!r}; known: {known}{note}")
        return info

    def has(self, asset_id: str, kind: AssetKind) -> bool:
        info = self._by_id.get(asset_id)
        return info is not None and info.kind == kind

    def load(self, asset_id: str, kind: type[D]) -> D:
        """Execute the asset file and return its `DEFINITION`, checked to be a `kind`.

        This runs the file's code in this process: only the evaluator process calls it
        (`evaluate`), never a server."""
        expected = next(k for k, t in _DEFINITION_TYPES.items() if t is kind)
        info = self.info(asset_id, expected)
        definition = self._load_path(info)
        if not isinstance(definition, kind):
            raise AssetDefinitionError(
                Path(info.path),
                1,
                f"DEFINITION is a {type(definition).__name__}, expected a {kind.__name__} "
                f"for a {expected} asset",
            )
        return definition

    def _load_path(self, info: AssetInfo) -> Definition:
        path = Path(info.path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise AssetLoadError(path, 1, f"cannot read the asset file: {exc}") from None
        key = (info.path, file_digest(raw))
        cached = self._loaded.get(key)
        if cached is not None:
            return cached
        self.loaded_files[info.path] = key[1]
        module_name = f"lightflow_assets.{info.kind}.{_module_safe(info.id)}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise AssetLoadError(path, 1, "cannot build an import spec for the asset file")
        module = importlib.util.module_from_spec(spec)
        # Registered while executing so msgspec/typing can resolve the file's own
        # annotations (they look the defining module up in sys.modules).
        sys.modules[module_name] = module
        try:
            # The bytes hashed above are the bytes executed (no second read of the file).
            code = compile(raw, str(path), "exec", dont_inherit=True)
            exec(code, module.__dict__)
        except AssetError:
            raise
        except MemoryError as exc:
            sys.modules.pop(module_name, None)
            raise AssetMemoryExceeded(
                path,
                _traceback_line(exc, path),
                "evaluating the asset ran out of memory (the evaluator's memory limit; "
                "see specs/flow.md §Evaluation)",
            ) from None
        except (Exception, SystemExit) as exc:  # an asset must not stop the evaluator
            sys.modules.pop(module_name, None)
            raise AssetLoadError(
                path, _traceback_line(exc, path), f"executing the asset failed: {exc!r}"
            ) from exc
        definition = getattr(module, "DEFINITION", None)
        if definition is None and info.kind == "node":
            definition = _decorated_node(module, info)
        if not isinstance(definition, Workflow | Composition | Node | Model | Preset | Policy):
            raise AssetDefinitionError(
                path, 1, "the asset file defines no DEFINITION = <definition>"
            )
        self._loaded[key] = definition
        return definition


def _decorated_node(module: object, info: AssetInfo) -> Node | None:
    """The node a `@node` function of the executed file makes (ADR 0102 §Nodes)."""
    for value in vars(module).values():
        if getattr(value, NODE_ATTR, None) == info.id:
            try:
                return node_definition(value)
            except ProviderDeclarationError as exc:
                raise AssetDefinitionError(Path(info.path), info.line, str(exc)) from None
    return None


def _scan_root(root: Path) -> tuple[list[AssetInfo], list[AssetProblem], dict[str, str]]:
    found: list[AssetInfo] = []
    problems: list[AssetProblem] = []
    digests: dict[str, str] = {}
    for folder, kind in FOLDERS.items():
        directory = root / folder
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_") or not path.is_file():
                continue
            try:
                info, digest = _read_metadata(path, kind, root)
            except AssetError as exc:
                problems.append(AssetProblem.of(exc, kind))
                continue
            found.append(info)
            digests[info.path] = digest
    return found, problems, digests


def _module_safe(asset_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", asset_id)


def _traceback_line(exc: BaseException, path: Path) -> int:
    """The deepest traceback line inside the asset file (1 when none is)."""
    line = 1
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def default_assets_root() -> Path:
    """The shipped `assets/` folder beside the package (the base root by default)."""
    return Path(__file__).resolve().parents[2] / "assets"


def overlay_roots(value: str | None) -> tuple[Path, ...]:
    """The folders named by `$LIGHTFLOW_ASSETS` (`os.pathsep`-separated, empty entries
    skipped), in order, each once."""
    if not value:
        return ()
    roots: list[Path] = []
    for part in value.split(os.pathsep):
        if part and Path(part) not in roots:
            roots.append(Path(part))
    return tuple(roots)


_KIND_NAMES: dict[str, AssetKind] = {**FOLDERS, **{kind: kind for kind in FOLDERS.values()}}


def check_kind(kind: str) -> AssetKind:
    """Decode a kind named by a user, singular (`workflow`) or folder name (`workflows`)."""
    found = _KIND_NAMES.get(kind)
    if found is None:
        raise Invalid(f"unknown asset kind {kind!r}; use one of {', '.join(FOLDERS)}")
    return found
