"""Asset discovery: read each asset file's `METADATA` literal without running the file.

Layout: `<root>/{models,nodes,compositions,workflows,presets,policies}/*.py`. Listing
parses every file with `ast` and evaluates only the `METADATA = {...}` literal
(`ast.literal_eval`), so listing never executes asset code. Executing a file to get its
`DEFINITION` is the separate, explicit `AssetCatalog.load()`.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, TypeVar

import msgspec

from ._definition import Composition, Definition, Model, Node, Policy, Preset, Workflow
from ._errors import (
    AssetError,
    AssetKindMismatch,
    AssetLoadError,
    AssetSyntaxError,
    DuplicateAssetId,
    Invalid,
    MalformedMetadata,
    UnknownAsset,
)

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
    """One listed asset: its metadata and where it was declared."""

    id: str
    title: str
    kind: AssetKind
    description: str
    stability: Stability
    path: str
    line: int


def read_metadata(path: Path, expected_kind: AssetKind | None = None) -> AssetInfo:
    """Parse `path` and evaluate its `METADATA` literal; never executes the file."""
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
    return AssetInfo(
        id=meta.id,
        title=meta.title,
        kind=meta.kind,
        description=meta.description,
        stability=meta.stability,
        path=str(path),
        line=node.lineno,
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
    """The assets under one root folder, indexed by id (unique across all kinds).

    >>> catalog = AssetCatalog.scan(Path("assets"))
    >>> [a.id for a in catalog.list("workflow")]  # doctest: +SKIP
    """

    def __init__(self, root: Path, assets: Iterable[AssetInfo]) -> None:
        self.root = root
        self._by_id: dict[str, AssetInfo] = {}
        for info in assets:
            first = self._by_id.get(info.id)
            if first is not None:
                raise DuplicateAssetId(
                    Path(info.path),
                    info.line,
                    f"asset id {info.id!r} is already declared at {first.path}:{first.line}; "
                    "asset ids must be unique",
                )
            self._by_id[info.id] = info
        # Loaded definitions keyed by (path, mtime_ns, size): an edited file reloads.
        self._loaded: dict[tuple[str, int, int], Definition] = {}

    @classmethod
    def scan(cls, root: Path) -> AssetCatalog:
        """Read the metadata of every `*.py` in the kind folders (files named `_*` skipped)."""
        found: list[AssetInfo] = []
        for folder, kind in FOLDERS.items():
            directory = root / folder
            if not directory.is_dir():
                continue
            for path in sorted(directory.glob("*.py")):
                if path.name.startswith("_") or not path.is_file():
                    continue
                found.append(read_metadata(path, kind))
        return cls(root, found)

    def list(self, kind: AssetKind | None = None) -> list[AssetInfo]:
        """Assets of `kind` (all when None), sorted by id."""
        infos = (i for i in self._by_id.values() if kind is None or i.kind == kind)
        return sorted(infos, key=lambda i: i.id)

    def info(self, asset_id: str, kind: AssetKind | None = None) -> AssetInfo:
        info = self._by_id.get(asset_id)
        if info is None or (kind is not None and info.kind != kind):
            what = f"{kind} asset" if kind else "asset"
            known = ", ".join(a.id for a in self.list(kind)) or "none"
            raise UnknownAsset(f"no {what} {asset_id!r}; known: {known}")
        return info

    def has(self, asset_id: str, kind: AssetKind) -> bool:
        info = self._by_id.get(asset_id)
        return info is not None and info.kind == kind

    def load(self, asset_id: str, kind: type[D]) -> D:
        """Execute the asset file and return its `DEFINITION`, checked to be a `kind`."""
        expected = next(k for k, t in _DEFINITION_TYPES.items() if t is kind)
        info = self.info(asset_id, expected)
        definition = self._load_path(info)
        if not isinstance(definition, kind):
            raise AssetLoadError(
                Path(info.path),
                1,
                f"DEFINITION is a {type(definition).__name__}, expected a {kind.__name__} "
                f"for a {expected} asset",
            )
        return definition

    def _load_path(self, info: AssetInfo) -> Definition:
        path = Path(info.path)
        try:
            st = path.stat()
        except OSError as exc:
            raise AssetLoadError(path, 1, f"cannot read the asset file: {exc}") from None
        key = (info.path, st.st_mtime_ns, st.st_size)
        cached = self._loaded.get(key)
        if cached is not None:
            return cached
        module_name = f"lightflow_assets.{info.kind}.{_module_safe(info.id)}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise AssetLoadError(path, 1, "cannot build an import spec for the asset file")
        module = importlib.util.module_from_spec(spec)
        # Registered while executing so msgspec/typing can resolve the file's own
        # annotations (they look the defining module up in sys.modules).
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except AssetError:
            raise
        except (Exception, SystemExit) as exc:  # an asset must not stop the server
            sys.modules.pop(module_name, None)
            raise AssetLoadError(
                path, _traceback_line(exc, path), f"executing the asset failed: {exc!r}"
            ) from exc
        definition = getattr(module, "DEFINITION", None)
        if not isinstance(definition, Workflow | Composition | Node | Model | Preset | Policy):
            raise AssetLoadError(path, 1, "the asset file defines no DEFINITION = <definition>")
        self._loaded[key] = definition
        return definition


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
    """`$LIGHTFLOW_ASSETS` when set, else the `assets/` folder beside the package."""
    env = os.environ.get("LIGHTFLOW_ASSETS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "assets"


_KIND_NAMES: dict[str, AssetKind] = {**FOLDERS, **{kind: kind for kind in FOLDERS.values()}}


def check_kind(kind: str) -> AssetKind:
    """Decode a kind named by a user, singular (`workflow`) or folder name (`workflows`)."""
    found = _KIND_NAMES.get(kind)
    if found is None:
        raise Invalid(f"unknown asset kind {kind!r}; use one of {', '.join(FOLDERS)}")
    return found
