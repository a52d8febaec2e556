"""``ReferenceProgram``: the small, fully deterministic program behind the test vectors.

Its view is ``{"id", "target", "state"}``; Submit and Patch change ``state`` with
JSON Merge Patch (RFC 7386) semantics. It exists so the interpreters can be checked
against each other on shared vectors, and as a template for real programs.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._effects import Effect, Patched, Published, Rendered, Replied, Subscribed, Unsubscribed
from ._instructions import Mount, Patch, Render, Shutdown, Submit, Subscribe
from ._json import JSONValue

__all__ = ["ReferenceProgram", "merge_patch"]


def merge_patch(target: JSONValue, patch: JSONValue) -> JSONValue:
    """RFC 7386 JSON Merge Patch: objects merge key by key, null deletes, else replace."""
    if not isinstance(patch, dict):
        return patch
    merged: dict[str, JSONValue] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


class ReferenceProgram:
    """A key/value view.

    >>> from lightflow_actors.isa import Mount, PureInterpreter, Render
    >>> interp = PureInterpreter(ReferenceProgram())
    >>> interp.apply(Mount(id="s1", target="counter", params={"n": 0}))
    []
    >>> interp.apply(Render())
    [Rendered(view={'id': 's1', 'target': 'counter', 'state': {'n': 0}})]
    """

    def __init__(self) -> None:
        self.id = ""
        self.target = ""
        self.state: JSONValue = {}
        self.topics: set[str] = set()

    def mount(self, instruction: Mount) -> Sequence[Effect]:
        self.id = instruction.id
        self.target = instruction.target
        self.state = dict(instruction.params)
        return []

    def render(self, instruction: Render) -> Sequence[Effect]:
        return [Rendered(view={"id": self.id, "target": self.target, "state": self.state})]

    def patch(self, instruction: Patch) -> Sequence[Effect]:
        self.state = merge_patch(self.state, instruction.diff)
        return [Patched(diff=instruction.diff)]

    def subscribe(self, instruction: Subscribe) -> Sequence[Effect]:
        if instruction.off:
            if instruction.topic not in self.topics:
                return []
            self.topics.discard(instruction.topic)
            return [Unsubscribed(topic=instruction.topic)]
        if instruction.topic in self.topics:
            return []
        self.topics.add(instruction.topic)
        return [Subscribed(topic=instruction.topic)]

    def submit(self, instruction: Submit) -> Sequence[Effect]:
        diff: dict[str, JSONValue] = {instruction.event: instruction.payload}
        self.state = merge_patch(self.state, diff)
        effects: list[Effect] = [Patched(diff=diff)]
        effects.extend(Published(topic=topic, message=diff) for topic in sorted(self.topics))
        if instruction.ref is not None:
            effects.append(Replied(ref=instruction.ref, payload={"ok": True}))
        return effects

    def shutdown(self, instruction: Shutdown) -> Sequence[Effect]:
        effects: list[Effect] = [Unsubscribed(topic=topic) for topic in sorted(self.topics)]
        self.topics.clear()
        return effects
