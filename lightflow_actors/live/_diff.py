"""The diff: from the tree a connection last received to the next one, only changes.

`DiffState` is the server's model of one client: which templates it already
holds (so statics go out once per fingerprint per connection) and the last
tree it was sent. A session actor keeps one per connection and calls
`DiffState.diff` after each render. The patch format is in specs/live-diff.md.

Live components (`ComponentCall` slots) are resolved by the session's `Components`
table and diffed as their own subtrees into the patch's ``"c"`` table; the slot holds
their cid. Each mounted component counts the slots naming it in the trees the browser
holds: the diff adjusts the counts only where it changes a slot (work in proportion to
the change), and a component whose count falls to 0 leaves the page (``"c": {cid:
null}``). Streams (`StreamSlot`) send their pending operations (``"x"``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from operator import is_not
from typing import Final

from ._errors import FingerprintCollisionError, RenderedError
from ._live_component import Components, Mounted, StreamMirror
from ._patch import Patch, PatchValue
from ._rendered import (
    ComponentCall,
    Comprehension,
    Dynamic,
    Rendered,
    StreamOp,
    StreamSlot,
    check_stream_entry,
)

# Dynamic indexes as JSON object keys; precomputed because every node uses them.
_INDEX: Final = tuple(str(i) for i in range(256))


def _index(i: int) -> str:
    return _INDEX[i] if i < 256 else str(i)


class DiffState:
    """What one connection's client holds: known templates and the last tree sent.

    >>> from lightflow_actors.live import Template
    >>> counter = Template("<p>{count}</p>")
    >>> state = DiffState()
    >>> state.diff(counter(count=1)).root
    {'s': 0, '0': '1'}
    >>> state.diff(counter(count=2)).root   # statics are not sent again
    {'0': '2'}

    Not thread-safe; it belongs to the one session actor that owns the connection.
    After a reconnect the client has nothing: call `reset` (or use a new state).
    """

    __slots__ = ("_ids", "_preload", "_statics", "rendered")

    rendered: Rendered | None
    """The last tree the client was sent (None before the first patch)."""

    def __init__(self) -> None:
        self._ids: dict[int, int] = {}
        self._statics: dict[int, tuple[str, ...]] = {}
        self._preload: tuple[tuple[int, tuple[str, ...]], ...] = ()
        self.rendered = None

    @property
    def known_fingerprints(self) -> frozenset[int]:
        """Fingerprints whose statics this client already holds."""
        return frozenset(self._ids)

    def reset(self) -> None:
        """Forget everything the client held: the next `diff` is a full render."""
        self._ids.clear()
        self._statics.clear()
        self.rendered = None

    def preload(self, templates: Iterable[tuple[int, tuple[str, ...]]]) -> None:
        """Send these templates' statics (``(fingerprint, statics)``, a `Template`'s) with
        the next `diff`, used by its tree or not, so that the later patches that first
        use them carry no statics (`LiveView.preload`). Those the client holds already
        are not sent again."""
        self._preload = tuple(templates)

    def diff(self, current: Rendered, components: Components | None = None) -> Patch:
        """The patch taking the client from `self.rendered` to `current`; records `current`.

        `components` is the session's table of live components: needed when the tree
        holds `ComponentCall`s; components it marked dirty are rendered too. On a
        fingerprint collision nothing is recorded.
        """
        run = _DiffRun(self._ids, self._statics, components)
        previous = self.rendered
        root: dict[str, PatchValue] | None
        if previous is not None and previous.fingerprint == current.fingerprint:
            root = run.dynamics(previous.dynamics, current.dynamics)
        else:
            if previous is not None:
                run.drop(previous)
            root = run.node(current)
        changes: dict[int, PatchValue | None] = {}
        if components is not None:
            run.components(changes, reset=previous is None)
        for fingerprint, statics in self._preload:
            run.template_id(fingerprint, statics)  # after the tree's: its ids stay as they were
        self._preload = ()
        for fingerprint, (template_id, statics) in run.new.items():
            self._ids[fingerprint] = template_id
            self._statics[fingerprint] = statics
        self.rendered = current
        templates = {tid: statics for tid, statics in run.new.values()}
        return Patch(templates, root, changes)


class _DiffRun:
    """One diff pass; new templates stay pending until the pass succeeds.

    `refs` collects the changes to the components' slot counts made by the tree being
    diffed (the root, then each component's own tree in turn); `tracking` is False
    while no component was mounted when the pass began, so replaced subtrees need no walk.
    """

    __slots__ = (
        "entry_cids",
        "host",
        "ids",
        "new",
        "refs",
        "sent_entries",
        "statics",
        "tracking",
    )

    def __init__(
        self,
        ids: dict[int, int],
        statics: dict[int, tuple[str, ...]],
        host: Components | None = None,
    ) -> None:
        self.ids = ids
        self.statics = statics
        self.new: dict[int, tuple[int, tuple[str, ...]]] = {}
        self.host = host
        self.tracking = host is not None and (len(host) > 0 or bool(host.streams or host.plain))
        self.refs: dict[int, int] = {}
        # The cids named by the stream entry being diffed (None: not inside one).
        self.entry_cids: list[int] | None = None
        # Stream entries sent by this pass that name components, with their cids.
        self.sent_entries: list[tuple[dict[str, PatchValue], tuple[int, ...]]] = []

    def template_id(self, fingerprint: int, statics: tuple[str, ...]) -> int:
        template_id = self.ids.get(fingerprint)
        if template_id is not None:
            known = self.statics[fingerprint]
            if known is not statics and known != statics:
                raise FingerprintCollisionError(fingerprint)
            return template_id
        pending = self.new.get(fingerprint)
        if pending is not None:
            if pending[1] is not statics and pending[1] != statics:
                raise FingerprintCollisionError(fingerprint)
            return pending[0]
        template_id = len(self.ids) + len(self.new)
        self.new[fingerprint] = (template_id, statics)
        return template_id

    # -- full values: the client has nothing at this position -------------------

    def full(self, value: Dynamic) -> PatchValue:
        if isinstance(value, str):
            return value
        if isinstance(value, Rendered):
            return self.node(value)
        if isinstance(value, Comprehension):
            return self.comprehension(value)
        if isinstance(value, ComponentCall):
            cid = self.resolve(value)
            self.refs[cid] = self.refs.get(cid, 0) + 1
            return cid
        return self.stream(value, value.ops)

    def resolve(self, call: ComponentCall) -> int:
        if self.host is None:
            raise RenderedError(
                f"live component {call.id!r} in a tree diffed without a component table; "
                "pass the session's Components to DiffState.diff"
            )
        cid = self.host.resolve(call)
        if self.entry_cids is not None:
            self.entry_cids.append(cid)
        return cid

    def stream(self, slot: StreamSlot, ops: list[StreamOp]) -> dict[str, PatchValue]:
        return {
            "s": self.template_id(slot.fingerprint, slot.statics),
            "x": self.stream_ops(slot, ops),
        }

    def stream_ops(self, slot: StreamSlot, ops: list[StreamOp]) -> list[PatchValue]:
        if self.entry_cids is not None:
            raise RenderedError(f"stream {slot.name!r} inside a stream entry; streams do not nest")
        host = self.host
        mirror = None if host is None else host.streams.get(slot.name)
        out: list[PatchValue] = []
        for op in ops:
            if op.kind == "r":
                out.append(["r"])
                if host is not None:
                    self.forget_stream(host, slot.name)
                    mirror = None
            elif op.kind == "d":
                out.append(["d", op.key])
                if mirror is not None:
                    self.uncount(mirror.delete(op.key))
            elif op.entry is not None:
                check_stream_entry(slot, op.key, op.entry)
                self.entry_cids = []
                try:
                    entry = self.entry(op.entry.dynamics)
                    cids = tuple(self.entry_cids)
                finally:
                    self.entry_cids = None
                if op.update_only:
                    out.append(["u", op.key, entry])
                elif op.limit is None:
                    out.append(["i", op.key, op.at, entry])
                else:
                    out.append(["i", op.key, op.at, entry, op.limit])
                if host is None:
                    continue
                if cids:
                    self.sent_entries.append((entry, cids))
                if mirror is None and cids:
                    if slot.name in host.plain:
                        raise RenderedError(
                            f"stream {slot.name!r}: entry {op.key!r} holds a live component, "
                            "but the stream already holds entries without one, whose keys "
                            "the server did not keep; give the stream's first entry its "
                            "component, or reset the stream (Stream(..., reset=True))"
                        )
                    mirror = host.streams[slot.name] = StreamMirror()
                if mirror is not None:
                    self.uncount(mirror.insert(op.key, cids, op.at, op.limit, op.update_only))
                elif not op.update_only:
                    host.plain[slot.name] = None
        return out

    def forget_stream(self, host: Components, name: str) -> None:
        """The browser's stream `name` is empty now (a reset, or its slot left)."""
        host.plain.pop(name, None)
        mirror = host.streams.pop(name, None)
        if mirror is not None:
            self.uncount(mirror.reset())

    def uncount(self, cids: tuple[int, ...]) -> None:
        for cid in cids:
            self.refs[cid] = self.refs.get(cid, 0) - 1

    # -- slot counts of live components ------------------------------------------------

    def drop(self, previous: Dynamic) -> None:
        """The browser no longer holds `previous` at its slot: uncount its components
        (and those of its streams' entries)."""
        if not self.tracking or type(previous) is str:
            return
        if isinstance(previous, StreamSlot):
            assert self.host is not None  # tracking implies a host
            self.forget_stream(self.host, previous.name)
            return
        if isinstance(previous, Rendered):
            for dynamic in previous.dynamics:
                if type(dynamic) is not str:
                    self.drop(dynamic)
        elif isinstance(previous, Comprehension):
            for entry in previous.entries:
                self.drop_entry(entry)
        elif isinstance(previous, ComponentCall):
            assert self.host is not None  # tracking implies a host
            cid = self.host.cid_of(previous)
            self.refs[cid] = self.refs.get(cid, 0) - 1

    def drop_entry(self, entry: tuple[Dynamic, ...]) -> None:
        for dynamic in entry:
            if type(dynamic) is not str:
                self.drop(dynamic)

    def components(self, changes: dict[int, PatchValue | None], *, reset: bool) -> None:
        """Render every dirty component into `changes` (``"c"``), then settle the counts:
        components no slot names any more leave (``null`` if the browser held them)."""
        host = self.host
        assert host is not None
        root_refs = self.refs
        tree_refs: dict[int, dict[int, int]] = {}
        held: dict[int, Rendered | None] = {}  # what the browser held, per rendered cid
        while (cid := host.next_dirty()) is not None:
            mounted = host.by_cid[cid]
            if cid not in held:
                held[cid] = mounted.rendered
            before = held[cid]
            rendered = host.render(mounted)
            # Rendered twice in one pass (a parent gave new props after): diff anew from
            # what the browser holds, dropping the first diff and its counts.
            self.refs = tree_refs[cid] = {}
            change: PatchValue | None
            if before is not None and before.fingerprint == rendered.fingerprint:
                change = self.dynamics(before.dynamics, rendered.dynamics)
            else:
                if before is not None:
                    self.drop(before)
                change = self.node(rendered)
            mounted.rendered = rendered
            if change is not None:
                changes[cid] = change
            else:
                changes.pop(cid, None)
        self.refs = root_refs
        touched: set[int] = set(root_refs)
        for deltas in tree_refs.values():
            touched.update(deltas)
            for cid, delta in deltas.items():
                root_refs[cid] = root_refs.get(cid, 0) + delta
        for cid, delta in root_refs.items():
            mounted_or_none = host.by_cid.get(cid)
            if mounted_or_none is not None:
                mounted_or_none.refs += delta
        candidates = list(host.by_cid) if reset else sorted(touched)
        for cid in candidates:
            mounted_or_none = host.by_cid.get(cid)
            if mounted_or_none is not None and mounted_or_none.refs > 1:
                raise RenderedError(
                    f"live component {type(mounted_or_none.component).__qualname__} with id "
                    f"{mounted_or_none.id!r} is rendered {mounted_or_none.refs} times; "
                    "give each place its own id"
                )
        gone = [cid for cid in candidates if cid in host.by_cid and host.by_cid[cid].refs <= 0]
        removed: set[int] = set()
        while gone:
            cid = gone.pop()
            if cid not in host.by_cid:
                continue
            mounted = host.remove(cid)
            removed.add(cid)
            was_held = held.get(cid, mounted.rendered)
            if was_held is not None and not reset:
                changes[cid] = None
            else:
                changes.pop(cid, None)
            if mounted.rendered is not None:
                gone.extend(self.release(host, mounted))
        # A stream entry sent by this patch and dropped by a later operation of it (a
        # delete, a replacement, a trimming limit, an update of a key the browser does
        # not hold) may name a component that left in this pass: the browser never
        # shows that entry, so its slot goes as empty text.
        for entry, cids in self.sent_entries:
            if not removed.isdisjoint(cids):
                _blank(entry, removed)

    def release(self, host: Components, mounted: Mounted) -> list[int]:
        """Uncount the components `mounted`'s tree names; return those left with none."""
        self.refs = {}
        self.tracking = True
        assert mounted.rendered is not None
        self.drop(mounted.rendered)
        orphans: list[int] = []
        for cid, delta in self.refs.items():
            child = host.by_cid.get(cid)
            if child is not None:
                child.refs += delta
                if child.refs <= 0:
                    orphans.append(cid)
        return orphans

    def node(self, rendered: Rendered) -> dict[str, PatchValue]:
        node: dict[str, PatchValue] = {
            "s": self.template_id(rendered.fingerprint, rendered.statics)
        }
        for i, dynamic in enumerate(rendered.dynamics):
            node[_index(i)] = dynamic if isinstance(dynamic, str) else self.full(dynamic)
        return node

    def entry(self, dynamics: tuple[Dynamic, ...]) -> dict[str, PatchValue]:
        return {
            _index(i): dynamic if isinstance(dynamic, str) else self.full(dynamic)
            for i, dynamic in enumerate(dynamics)
        }

    def comprehension(self, value: Comprehension) -> dict[str, PatchValue]:
        node: dict[str, PatchValue] = {
            "s": self.template_id(value.fingerprint, value.statics),
            "e": [self.entry(entry) for entry in value.entries],
        }
        if value.keys is not None:
            node["k"] = list(value.keys)
        return node

    # -- changes: the client holds `previous` at this position ------------------

    def value(self, previous: Dynamic, current: Dynamic) -> PatchValue | None:
        """The change from `previous` to `current`, or None when there is none."""
        if isinstance(current, str):
            if isinstance(previous, str) and previous == current:
                return None
            self.drop(previous)
            return current
        if isinstance(current, Rendered):
            if isinstance(previous, Rendered) and previous.fingerprint == current.fingerprint:
                return self.dynamics(previous.dynamics, current.dynamics)
            self.drop(previous)
            return self.node(current)
        if isinstance(current, Comprehension):
            if (
                isinstance(previous, Comprehension)
                and previous.fingerprint == current.fingerprint
                and (previous.keys is None) == (current.keys is None)
            ):
                return self.comprehension_changes(previous, current)
            self.drop(previous)
            return self.comprehension(current)
        if isinstance(current, ComponentCall):
            cid = self.resolve(current)
            if isinstance(previous, ComponentCall) and self.same_component(previous, cid):
                return None
            self.drop(previous)
            self.refs[cid] = self.refs.get(cid, 0) + 1
            return cid
        if (
            isinstance(previous, StreamSlot)
            and previous.name == current.name
            and previous.fingerprint == current.fingerprint
        ):
            return {"x": self.stream_ops(current, current.ops)} if current.ops else None
        self.drop(previous)
        return self.stream(current, current.ops)

    def same_component(self, previous: ComponentCall, cid: int) -> bool:
        host = self.host
        return (
            host is not None
            and type(previous.component) is type(host.by_cid[cid].component)
            and previous.id == host.by_cid[cid].id
        )

    def dynamics(
        self, previous: tuple[Dynamic, ...], current: tuple[Dynamic, ...]
    ) -> dict[str, PatchValue] | None:
        changes: dict[str, PatchValue] | None = None
        for i, (before, after) in enumerate(zip(previous, current, strict=True)):
            if before is after:
                continue
            if type(after) is str:
                # Inlined text case of `value`: the bulk of all dynamics.
                if type(before) is str:
                    if before == after:
                        continue
                else:
                    self.drop(before)
                change: PatchValue | None = after
            else:
                change = self.value(before, after)
            if change is not None:
                if changes is None:
                    changes = {}
                changes[_index(i)] = change
        return changes

    def comprehension_changes(
        self, previous: Comprehension, current: Comprehension
    ) -> dict[str, PatchValue] | None:
        if previous.keys is None or current.keys is None:
            return self.positional_changes(previous.entries, current.entries)
        if previous.keys == current.keys:
            updates = self.updates(previous.keys, previous.entries, current.entries)
            return {"u": updates} if updates else None
        return self.keyed_changes(previous, previous.keys, current, current.keys)

    def updates(
        self,
        keys: Sequence[str],
        previous: Sequence[tuple[Dynamic, ...]],
        current: Sequence[tuple[Dynamic, ...]],
    ) -> dict[str, PatchValue]:
        updates: dict[str, PatchValue] = {}
        # Unchanged entries are mostly the very same tuples (a memoised row): one C pass
        # finds the others, so a 5-row change of 1 000 rows visits 5 entries.
        fresh = list(map(is_not, previous, current))
        if True not in fresh:
            return updates
        i = fresh.index(True)
        while True:
            before, after = previous[i], current[i]
            # Tuple equality runs in C and settles most unchanged entries at once.
            if before != after:
                change = self.dynamics(before, after)
                if change is not None:
                    updates[keys[i]] = change
            try:
                i = fresh.index(True, i + 1)
            except ValueError:
                return updates

    def positional_changes(
        self,
        previous: tuple[tuple[Dynamic, ...], ...],
        current: tuple[tuple[Dynamic, ...], ...],
    ) -> dict[str, PatchValue] | None:
        # A positional list's keys are its indexes: it only grows or shrinks at the end.
        common = min(len(previous), len(current))
        changes: dict[str, PatchValue] = {}
        if len(previous) > common:
            changes["d"] = [_index(i) for i in range(common, len(previous))]
            if self.tracking:
                for i in range(common, len(previous)):
                    self.drop_entry(previous[i])
        if len(current) > common:
            changes["i"] = [
                [_index(i), i, self.entry(current[i])] for i in range(common, len(current))
            ]
        keys = [_index(i) for i in range(common)]
        updates = self.updates(keys, previous[:common], current[:common])
        if updates:
            changes["u"] = updates
        return changes or None

    def keyed_changes(
        self,
        previous: Comprehension,
        previous_keys: tuple[str, ...],
        current: Comprehension,
        current_keys: tuple[str, ...],
    ) -> dict[str, PatchValue] | None:
        old_position = {key: i for i, key in enumerate(previous_keys)}
        new_keys = set(current_keys)
        deletes: list[PatchValue] = [key for key in previous_keys if key not in new_keys]
        if self.tracking:
            for key in deletes:
                self.drop_entry(previous.entries[old_position[str(key)]])
        # Entries on a longest increasing run of old positions keep their relative
        # order and stay put; every other surviving entry is sent as a move.
        surviving = [old_position[key] for key in current_keys if key in old_position]
        staying = {previous_keys[i] for i in _longest_increasing(surviving)}
        moves: list[PatchValue] = []
        inserts: list[PatchValue] = []
        updates: dict[str, PatchValue] = {}
        for j, key in enumerate(current_keys):
            i = old_position.get(key)
            if i is None:
                inserts.append([key, j, self.entry(current.entries[j])])
                continue
            if key not in staying:
                moves.append([key, j])
            before, after = previous.entries[i], current.entries[j]
            if before is not after and before != after:
                change = self.dynamics(before, after)
                if change is not None:
                    updates[key] = change
        changes: dict[str, PatchValue] = {}
        if deletes:
            changes["d"] = deletes
        if moves:
            changes["m"] = moves
        if inserts:
            changes["i"] = inserts
        if updates:
            changes["u"] = updates
        return changes or None


def _blank(node: dict[str, PatchValue], cids: set[int]) -> None:
    """Replace, in place, every slot of `node` naming one of `cids` by empty text."""
    for key, value in node.items():
        if key == "s":
            continue
        if type(value) is int:
            if value in cids:
                node[key] = ""
        elif isinstance(value, dict):
            _blank(value, cids)
        elif key == "e" and isinstance(value, list):
            for entry in value:
                if isinstance(entry, dict):
                    _blank(entry, cids)


def _longest_increasing(values: list[int]) -> list[int]:
    """One longest strictly increasing subsequence of `values` (distinct ints), O(n log n)."""
    tails: list[int] = []  # tails[k]: smallest tail value of an increasing run of length k+1
    tail_at: list[int] = []  # index in `values` of that tail
    parent: list[int] = [-1] * len(values)
    for index, value in enumerate(values):
        k = bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
            tail_at.append(index)
        else:
            tails[k] = value
            tail_at[k] = index
        parent[index] = tail_at[k - 1] if k > 0 else -1
    run: list[int] = []
    index = tail_at[-1] if tail_at else -1
    while index >= 0:
        run.append(values[index])
        index = parent[index]
    run.reverse()
    return run
