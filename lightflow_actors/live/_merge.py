"""The client side in Python: merge patches into client state, render it to HTML.

This is the reference the JavaScript client follows step by step: the same
state shape, the same order of operations, the same checks. A patch that does
not fit the state raises `PatchError` (with the path of the bad part) and
leaves the state unchanged, because merging builds new nodes and never
mutates the old ones (copy on write along the changed paths only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypeAlias

import msgspec

from ._errors import PatchError
from ._patch import Patch

ClientValue: TypeAlias = "str | int | ClientNode | ClientComprehension | ClientStream"
"""What the client holds in one dynamic slot (an int is a live component's cid)."""

MAX_DEPTH: Final = 128
"""Deepest nesting of nodes a patch may carry (a hostile patch cannot exhaust the stack)."""

MAX_RENDER_DEPTH: Final = 256
"""Deepest nesting `client_html` follows through live components; deeper renders empty."""


class ClientNode(msgspec.Struct, frozen=True):
    """A template instance on the client: its template id and one value per dynamic."""

    template_id: int
    values: tuple[ClientValue, ...]


class ClientComprehension(msgspec.Struct, frozen=True):
    """Entries sharing one template, in `keys` order; positional lists use "0", "1", ..."""

    template_id: int
    keys: tuple[str, ...]
    entries: Mapping[str, tuple[ClientValue, ...]]
    positional: bool


class ClientStream(msgspec.Struct, frozen=True):
    """A stream's entries as the client holds them: the server keeps none of them."""

    template_id: int
    keys: tuple[str, ...]
    entries: Mapping[str, tuple[ClientValue, ...]]


class ClientState(msgspec.Struct, frozen=True):
    """Everything a client holds for one connection: statics by template id, the tree,
    and the live components by cid."""

    templates: Mapping[int, tuple[str, ...]] = msgspec.field(default_factory=dict)
    root: ClientNode | None = None
    components: Mapping[int, ClientNode] = msgspec.field(default_factory=dict)


def apply_patch(state: ClientState, patch: Patch) -> ClientState:
    """Merge `patch` into `state` and return the new state (`state` is not modified).

    Raises `PatchError` naming the path of the first part that does not fit.
    """
    templates: Mapping[int, tuple[str, ...]] = state.templates
    if patch.templates:
        merged = dict(state.templates)
        for template_id, statics in patch.templates.items():
            if not statics:
                raise PatchError(f"$.t.{template_id}", "statics must hold at least one string")
            known = merged.get(template_id)
            if known is not None and known != statics:
                raise PatchError(
                    f"$.t.{template_id}", "redefines a template id the client already holds"
                )
            merged[template_id] = statics
        templates = merged
    components = state.components
    # A slot may name any component the client holds after the patch: those it held and
    # those the patch sends, less those it deletes (whatever their order in "c").
    available: set[int] | Mapping[int, ClientNode] = components
    if patch.components:
        sent = {cid for cid, value in patch.components.items() if value is not None}
        gone = {cid for cid, value in patch.components.items() if value is None}
        available = (set(components) | sent) - gone
    merge = _Merge(templates, available)
    if patch.components:
        merged_components = dict(components)
        for cid in sorted(patch.components):
            incoming = patch.components[cid]
            path = f"$.c.{cid}"
            if incoming is None:
                if cid not in components:
                    raise PatchError(
                        path, f"deletes component {cid}, which the client does not hold"
                    )
                del merged_components[cid]
                continue
            node = merge.value(merged_components.get(cid), incoming, path, 0)
            if not isinstance(node, ClientNode):
                raise PatchError(path, "a component must be a template node")
            merged_components[cid] = node
        components = merged_components
    root = state.root
    if patch.root is not None:
        merged_root = merge.value(root, patch.root, "$.r", 0)
        if not isinstance(merged_root, ClientNode):
            raise PatchError("$.r", "the root must be a template node, not a comprehension")
        root = merged_root
    return ClientState(templates, root, components)


def client_html(state: ClientState) -> str:
    """The HTML the client shows for `state` ("" before the first patch).

    A slot naming a component the client does not hold, a component inside itself,
    or nesting deeper than `MAX_RENDER_DEPTH` renders empty.
    """
    if state.root is None:
        return ""
    out: list[str] = []
    _Writer(state.templates, state.components, out).node(state.root, 0)
    return "".join(out)


class _Writer:
    __slots__ = ("components", "inside", "out", "templates")

    def __init__(
        self,
        templates: Mapping[int, tuple[str, ...]],
        components: Mapping[int, ClientNode],
        out: list[str],
    ) -> None:
        self.templates = templates
        self.components = components
        self.out = out
        self.inside: set[int] = set()

    def node(self, node: ClientNode, depth: int) -> None:
        self.values(self.templates[node.template_id], node.values, depth)

    def values(self, statics: tuple[str, ...], values: tuple[ClientValue, ...], depth: int) -> None:
        out = self.out
        out.append(statics[0])
        for index, value in enumerate(values, 1):
            if isinstance(value, str):
                out.append(value)
            elif depth >= MAX_RENDER_DEPTH:
                pass
            elif isinstance(value, ClientNode):
                self.node(value, depth + 1)
            elif isinstance(value, int):
                component = self.components.get(value)
                if component is not None and value not in self.inside:
                    self.inside.add(value)
                    self.node(component, depth + 1)
                    self.inside.discard(value)
            else:
                entry_statics = self.templates[value.template_id]
                for key in value.keys:
                    self.values(entry_statics, value.entries[key], depth + 1)
            out.append(statics[index])


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {str: "a string", int: "a number", float: "a number", list: "an array"}.get(
        type(value), "an object"
    )


class _Merge:
    """One merge pass over a patch tree; `templates` already includes the patch's ``t``,
    `available` the cids the client holds once the patch is merged."""

    __slots__ = ("available", "templates")

    def __init__(
        self,
        templates: Mapping[int, tuple[str, ...]],
        available: set[int] | Mapping[int, ClientNode] | None = None,
    ) -> None:
        self.templates = templates
        self.available = available if available is not None else {}

    def value(
        self, current: ClientValue | None, incoming: object, path: str, depth: int
    ) -> ClientValue:
        """Merge one slot: text replaces, a cid names a component, ``{"s": ...}`` builds
        anew, other objects change what the slot holds."""
        if isinstance(incoming, str):
            return incoming
        if type(incoming) is int:
            if incoming not in self.available:
                raise PatchError(
                    path, f"names component {incoming}, which the client does not hold"
                )
            return incoming
        if not isinstance(incoming, dict):
            raise PatchError(
                path, f"expected a string, a component id or an object, got {_describe(incoming)}"
            )
        if depth >= MAX_DEPTH:
            raise PatchError(path, f"nested deeper than {MAX_DEPTH} levels")
        if "s" in incoming:
            return self.full(incoming, path, depth)
        if isinstance(current, ClientNode):
            statics = self.templates[current.template_id]
            values = self.dynamics(current.values, len(statics) - 1, incoming, path, depth)
            return ClientNode(current.template_id, values)
        if isinstance(current, ClientComprehension):
            return self.comprehension_changes(current, incoming, path, depth)
        if isinstance(current, ClientStream):
            if incoming.keys() != {"x"}:
                raise PatchError(path, 'a change to a stream holds only "x"')
            return self.stream_ops(current, incoming["x"], f"{path}.x", depth)
        raise PatchError(
            path,
            'a change (no "s") for a slot that holds '
            + (
                "nothing"
                if current is None
                else "text"
                if isinstance(current, str)
                else "a component"
            )
            + '; a new node must carry "s"',
        )

    def stream_ops(self, current: ClientStream, ops: object, path: str, depth: int) -> ClientStream:
        """Apply stream operations in order (specs/live-diff.md §8)."""
        width = len(self.templates[current.template_id]) - 1
        keys = list(current.keys)
        entries = dict(current.entries)
        for n, op in enumerate(_array(ops, path)):
            at_path = f"{path}.{n}"
            if not isinstance(op, list) or not op or not isinstance(op[0], str):
                raise PatchError(at_path, "expected an operation array starting with its kind")
            kind = op[0]
            if kind == "r" and len(op) == 1:
                keys, entries = [], {}
            elif kind == "d" and len(op) == 2 and isinstance(op[1], str):
                if op[1] in entries:
                    del entries[op[1]]
                    keys.remove(op[1])
            elif kind == "u" and len(op) == 3 and isinstance(op[1], str):
                entry = self.full_entry(op[2], width, f"{at_path}.2", depth + 1)
                if op[1] in entries:
                    entries[op[1]] = entry
            elif kind == "i" and len(op) in (4, 5) and isinstance(op[1], str):
                key, at = op[1], op[2]
                if type(at) is not int or at < -1:
                    raise PatchError(f"{at_path}.2", "at must be -1 or a non-negative integer")
                limit = op[4] if len(op) == 5 else None
                if limit is not None and type(limit) is not int:
                    raise PatchError(f"{at_path}.4", "a limit must be an integer")
                entry = self.full_entry(op[3], width, f"{at_path}.3", depth + 1)
                if key in entries:
                    entries[key] = entry
                    continue
                entries[key] = entry
                keys.insert(len(keys) if at == -1 else min(at, len(keys)), key)
                if limit is not None:
                    kept = keys[:limit] if limit >= 0 else keys[limit:]
                    if len(kept) < len(keys):
                        for gone in set(keys) - set(kept):
                            del entries[gone]
                        keys = kept
            else:
                raise PatchError(
                    at_path, f"not a stream operation: {_describe(op)} of kind {kind!r}"
                )
        return ClientStream(current.template_id, tuple(keys), entries)

    def statics(self, node: dict[str, object], path: str) -> tuple[int, tuple[str, ...]]:
        template_id = node["s"]
        if type(template_id) is not int:
            raise PatchError(f"{path}.s", f"expected a template id, got {_describe(template_id)}")
        statics = self.templates.get(template_id)
        if statics is None:
            raise PatchError(f"{path}.s", f"template id {template_id} was never sent in t")
        return template_id, statics

    def full(self, node: dict[str, object], path: str, depth: int) -> ClientValue:
        template_id, statics = self.statics(node, path)
        width = len(statics) - 1
        if "x" in node:
            if node.keys() != {"s", "x"}:
                extra = min(node.keys() - {"s", "x"})
                raise PatchError(f"{path}.{extra}", "unknown key in a new stream")
            return self.stream_ops(ClientStream(template_id, (), {}), node["x"], f"{path}.x", depth)
        if "e" not in node:
            if len(node) != width + 1:
                raise PatchError(
                    path, f"a new node of template {template_id} needs keys 0..{width - 1}"
                )
            values = self.dynamics((), width, node, path, depth, skip="s")
            return ClientNode(template_id, values)
        unknown = node.keys() - {"s", "e", "k"}
        if unknown:
            raise PatchError(f"{path}.{min(unknown)}", "unknown key in a new comprehension")
        entries_in = node["e"]
        if not isinstance(entries_in, list):
            raise PatchError(f"{path}.e", f"expected an array, got {_describe(entries_in)}")
        positional = "k" not in node
        if positional:
            keys = tuple(str(i) for i in range(len(entries_in)))
        else:
            keys = self.key_list(node["k"], f"{path}.k")
            if len(keys) != len(entries_in):
                raise PatchError(f"{path}.k", f"{len(keys)} keys for {len(entries_in)} entries")
        entries: dict[str, tuple[ClientValue, ...]] = {}
        for i, (key, entry) in enumerate(zip(keys, entries_in, strict=True)):
            entries[key] = self.full_entry(entry, width, f"{path}.e.{i}", depth)
        return ClientComprehension(template_id, keys, entries, positional)

    def key_list(self, keys: object, path: str) -> tuple[str, ...]:
        if not isinstance(keys, list):
            raise PatchError(path, f"expected an array of keys, got {_describe(keys)}")
        seen: set[str] = set()
        for i, key in enumerate(keys):
            if not isinstance(key, str):
                raise PatchError(f"{path}.{i}", f"a key must be a string, got {_describe(key)}")
            if key in seen:
                raise PatchError(f"{path}.{i}", f"key {key!r} appears twice")
            seen.add(key)
        return tuple(keys)

    def full_entry(
        self, entry: object, width: int, path: str, depth: int
    ) -> tuple[ClientValue, ...]:
        if not isinstance(entry, dict):
            raise PatchError(path, f"expected an entry object, got {_describe(entry)}")
        if len(entry) != width:
            raise PatchError(path, f"a new entry needs keys 0..{width - 1}, got {len(entry)} keys")
        return self.dynamics((), width, entry, path, depth)

    def dynamics(
        self,
        current: tuple[ClientValue, ...],
        width: int,
        changes: dict[str, object],
        path: str,
        depth: int,
        skip: str = "",
    ) -> tuple[ClientValue, ...]:
        """Apply ``{"<index>": value}`` to `current` (empty `current`: all indexes required)."""
        values: list[ClientValue | None] = list(current) if current else [None] * width
        for key, incoming in changes.items():
            if key == skip:
                continue
            index = _parse_index(key, width, path)
            values[index] = self.value(values[index], incoming, f"{path}.{key}", depth + 1)
        result: list[ClientValue] = []
        for index, value in enumerate(values):
            if value is None:
                raise PatchError(f"{path}.{index}", "missing in a new node")
            result.append(value)
        return tuple(result)

    def comprehension_changes(
        self, current: ClientComprehension, changes: dict[str, object], path: str, depth: int
    ) -> ClientComprehension:
        extra = changes.keys() - {"d", "m", "i", "u"}
        if extra:
            raise PatchError(f"{path}.{min(extra)}", "unknown key in comprehension changes")
        width = len(self.templates[current.template_id]) - 1
        entries = dict(current.entries)
        # 1. deletes
        removed: set[str] = set()
        for i, key in enumerate(_array(changes.get("d", []), f"{path}.d")):
            if not isinstance(key, str) or key not in entries:
                raise PatchError(
                    f"{path}.d.{i}", f"deletes {key!r}, which the client does not hold"
                )
            del entries[key]
            removed.add(key)
        # 2. moves and inserts, placed in increasing target index
        placements: list[tuple[int, str]] = []
        for i, op in enumerate(_array(changes.get("m", []), f"{path}.m")):
            key, target, _ = _op(op, 2, f"{path}.m.{i}")
            if key not in entries or key in removed:
                raise PatchError(f"{path}.m.{i}", f"moves {key!r}, which the client does not hold")
            removed.add(key)
            placements.append((target, key))
        for i, op in enumerate(_array(changes.get("i", []), f"{path}.i")):
            key, target, items = _op(op, 3, f"{path}.i.{i}")
            if key in entries:
                raise PatchError(
                    f"{path}.i.{i}", f"inserts {key!r}, which the client already holds"
                )
            entries[key] = self.full_entry(items[2], width, f"{path}.i.{i}.2", depth + 1)
            placements.append((target, key))
        keys = current.keys
        if placements or removed:
            order = [key for key in current.keys if key not in removed]
            placements.sort()
            for n, (target, key) in enumerate(placements):
                if target > len(order) or (n and placements[n - 1][0] == target):
                    raise PatchError(path, f"cannot place {key!r} at index {target}")
                order.insert(target, key)
            keys = tuple(order)
            if current.positional and any(key != str(i) for i, key in enumerate(keys)):
                raise PatchError(path, "a positional list can only grow or shrink at its end")
        # 3. updates of entries the client holds
        updates = changes.get("u", {})
        if not isinstance(updates, dict):
            raise PatchError(f"{path}.u", f"expected an object, got {_describe(updates)}")
        for key, change in updates.items():
            entry = entries.get(key)
            if entry is None:
                raise PatchError(f"{path}.u.{key}", "updates an entry the client does not hold")
            if not isinstance(change, dict):
                raise PatchError(f"{path}.u.{key}", f"expected an object, got {_describe(change)}")
            entries[key] = self.dynamics(entry, width, change, f"{path}.u.{key}", depth + 1)
        return ClientComprehension(current.template_id, keys, entries, current.positional)


def _parse_index(key: str, width: int, path: str) -> int:
    # Canonical decimal only ("7", not "07" or "+7"), as the JS client checks it.
    if not (key.isascii() and key.isdigit()) or (len(key) > 1 and key[0] == "0"):
        raise PatchError(f"{path}.{key}", "not a dynamic index")
    index = int(key)
    if index >= width:
        raise PatchError(f"{path}.{key}", f"index out of range: the template has {width} dynamics")
    return index


def _array(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise PatchError(path, f"expected an array, got {_describe(value)}")
    return value


def _op(op: object, length: int, path: str) -> tuple[str, int, list[object]]:
    if not isinstance(op, list) or len(op) != length:
        raise PatchError(path, f"expected an array of {length} items")
    key, target = op[0], op[1]
    if not isinstance(key, str):
        raise PatchError(f"{path}.0", f"a key must be a string, got {_describe(key)}")
    if type(target) is not int or target < 0:
        raise PatchError(f"{path}.1", "an index must be a non-negative integer")
    return key, target, op
