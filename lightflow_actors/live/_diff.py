"""The diff: from the tree a connection last received to the next one, only changes.

`DiffState` is the server's model of one client: which templates it already
holds (so statics go out once per fingerprint per connection) and the last
tree it was sent. A session actor keeps one per connection and calls
`DiffState.diff` after each render. The patch format is in specs/live-diff.md.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Final

from ._errors import FingerprintCollisionError
from ._patch import Patch, PatchValue
from ._rendered import Comprehension, Dynamic, Rendered

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

    __slots__ = ("_ids", "_statics", "rendered")

    rendered: Rendered | None
    """The last tree the client was sent (None before the first patch)."""

    def __init__(self) -> None:
        self._ids: dict[int, int] = {}
        self._statics: dict[int, tuple[str, ...]] = {}
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

    def diff(self, current: Rendered) -> Patch:
        """The patch taking the client from `self.rendered` to `current`; records `current`.

        On error (a fingerprint collision) nothing is recorded.
        """
        run = _DiffRun(self._ids, self._statics)
        previous = self.rendered
        root: dict[str, PatchValue] | None
        if previous is not None and previous.fingerprint == current.fingerprint:
            root = run.dynamics(previous.dynamics, current.dynamics)
        else:
            root = run.node(current)
        for fingerprint, (template_id, statics) in run.new.items():
            self._ids[fingerprint] = template_id
            self._statics[fingerprint] = statics
        self.rendered = current
        return Patch({tid: statics for tid, statics in run.new.values()}, root)


class _DiffRun:
    """One diff pass; new templates stay pending until the pass succeeds."""

    __slots__ = ("ids", "new", "statics")

    def __init__(self, ids: dict[int, int], statics: dict[int, tuple[str, ...]]) -> None:
        self.ids = ids
        self.statics = statics
        self.new: dict[int, tuple[int, tuple[str, ...]]] = {}

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
        return self.comprehension(value)

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
            return current
        if isinstance(current, Rendered):
            if isinstance(previous, Rendered) and previous.fingerprint == current.fingerprint:
                return self.dynamics(previous.dynamics, current.dynamics)
            return self.node(current)
        if (
            isinstance(previous, Comprehension)
            and previous.fingerprint == current.fingerprint
            and (previous.keys is None) == (current.keys is None)
        ):
            return self.comprehension_changes(previous, current)
        return self.comprehension(current)

    def dynamics(
        self, previous: tuple[Dynamic, ...], current: tuple[Dynamic, ...]
    ) -> dict[str, PatchValue] | None:
        changes: dict[str, PatchValue] | None = None
        for i, (before, after) in enumerate(zip(previous, current, strict=True)):
            if before is after:
                continue
            if type(after) is str:
                # Inlined text case of `value`: the bulk of all dynamics.
                if type(before) is str and before == after:
                    continue
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
        for key, before, after in zip(keys, previous, current, strict=True):
            # Tuple equality runs in C and settles most unchanged entries at once.
            if before is not after and before != after:
                change = self.dynamics(before, after)
                if change is not None:
                    updates[key] = change
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
