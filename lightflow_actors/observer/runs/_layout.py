"""The workflow DAG laid out left to right, for the run page's inline SVG.

A layered (Sugiyama-style) layout computed in Python, once per run (a run's steps never
change): each step's layer is the length of the longest dependency path that reaches it,
so every edge points right; within a layer, steps are ordered by the barycentre of their
neighbours, sweeping left to right and back, keeping the order with the fewest edge
crossings seen. Edges that skip layers are drawn as one curve (no dummy nodes): the
workflows people write are shallow, and a curve is what they read easily.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec

NODE_W: Final = 168
NODE_H: Final = 52
GAP_X: Final = 64
GAP_Y: Final = 20
PAD: Final = 12
SWEEPS: Final = 8
"""Barycentre sweeps (each one left to right, then right to left) at most."""


class NodeBox(msgspec.Struct, frozen=True):
    """One step's box: its layer (column), its order in it (row), its top-left corner."""

    id: str
    layer: int
    order: int
    x: int
    y: int


class EdgePath(msgspec.Struct, frozen=True):
    """A dependency ``source -> target``, drawn as the SVG path ``d``."""

    source: str
    target: str
    d: str


class DagLayout(msgspec.Struct, frozen=True):
    """Every box and edge, and the size of the drawing."""

    nodes: tuple[NodeBox, ...]
    edges: tuple[EdgePath, ...]
    width: int
    height: int

    def node(self, step: str) -> NodeBox | None:
        for box in self.nodes:
            if box.id == step:
                return box
        return None


def layers_of(steps: Sequence[tuple[str, Sequence[str]]]) -> dict[str, int]:
    """Each step's longest-path layer. ``steps`` are ``(id, depends_on)``; dependencies on
    unknown ids are ignored. In topological order one pass settles every layer; a cycle
    (which a resolved workflow never has) stops growing at the number of steps, so a
    hostile plan still lays out."""
    known = {step for step, _ in steps}
    deps = {step: [d for d in depends if d in known and d != step] for step, depends in steps}
    layer = dict.fromkeys(deps, 0)
    cap = len(deps)
    for _ in range(cap):
        changed = False
        for step, depends in deps.items():
            want = min(cap, 1 + max((layer[d] for d in depends), default=-1))
            if want != layer[step]:
                layer[step] = want
                changed = True
        if not changed:
            break
    return layer


def crossings(rows: list[list[str]], edges: Sequence[tuple[str, str]]) -> int:
    """Edge crossings between adjacent layers (edges spanning more are not counted)."""
    position = {step: (layer, i) for layer, row in enumerate(rows) for i, step in enumerate(row)}
    total = 0
    for layer in range(len(rows) - 1):
        pairs = sorted(
            (position[s][1], position[t][1])
            for s, t in edges
            if position[s][0] == layer and position[t][0] == layer + 1
        )
        for i, (_, a) in enumerate(pairs):
            for _, b in pairs[i + 1 :]:
                if b < a:
                    total += 1
    return total


def _sweep(rows: list[list[str]], neighbours: dict[str, list[str]], order: range) -> None:
    """Reorder each layer of ``order`` by the mean position of each step's ``neighbours``
    (a step without any keeps its place)."""
    position = {step: i for row in rows for i, step in enumerate(row)}
    for layer in order:
        row = rows[layer]
        keys: dict[str, tuple[float, int]] = {}
        for i, step in enumerate(row):
            near = [position[n] for n in neighbours.get(step, []) if n in position]
            keys[step] = (sum(near) / len(near) if near else float(i), i)
        row.sort(key=keys.__getitem__)
        position.update({step: i for i, step in enumerate(row)})


def layout(steps: Sequence[tuple[str, Sequence[str]]]) -> DagLayout:
    """Boxes and edge curves for ``steps`` (``(id, depends_on)``, in topological order)."""
    layer = layers_of(steps)
    count = max(layer.values(), default=-1) + 1
    rows: list[list[str]] = [[] for _ in range(count)]
    for step, _ in steps:
        if step in layer and step not in rows[layer[step]]:
            rows[layer[step]].append(step)
    edges = list(
        dict.fromkeys(
            (dep, step)
            for step, depends in steps
            for dep in depends
            if dep in layer and dep != step and layer[dep] < layer[step]
        )
    )
    left = {s: [d for d, t in edges if t == s] for s in layer}
    right = {s: [t for d, t in edges if d == s] for s in layer}
    best = [list(row) for row in rows]
    fewest = crossings(best, edges)
    for _ in range(SWEEPS):
        if fewest == 0:
            break
        _sweep(rows, left, range(1, count))
        _sweep(rows, right, range(count - 2, -1, -1))
        now = crossings(rows, edges)
        if now < fewest:
            best, fewest = [list(row) for row in rows], now
        else:
            break
    tallest = max((len(row) for row in best), default=0)
    boxes: dict[str, NodeBox] = {}
    for column, row in enumerate(best):
        offset = (tallest - len(row)) * (NODE_H + GAP_Y) // 2
        for order, step in enumerate(row):
            x = PAD + column * (NODE_W + GAP_X)
            y = PAD + offset + order * (NODE_H + GAP_Y)
            boxes[step] = NodeBox(step, column, order, x, y)
    paths = tuple(EdgePath(s, t, _curve(boxes[s], boxes[t])) for s, t in edges)
    width = 2 * PAD + max(count, 1) * NODE_W + max(count - 1, 0) * GAP_X
    height = 2 * PAD + max(tallest, 1) * NODE_H + max(tallest - 1, 0) * GAP_Y
    nodes = tuple(boxes[step] for step in dict.fromkeys(step for step, _ in steps) if step in boxes)
    return DagLayout(nodes, paths, width, height)


def _curve(source: NodeBox, target: NodeBox) -> str:
    """A cubic curve from the right middle of ``source`` to the left middle of ``target``."""
    x1, y1 = source.x + NODE_W, source.y + NODE_H // 2
    x2, y2 = target.x, target.y + NODE_H // 2
    bend = max((x2 - x1) // 2, 16)
    return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
