"""The JavaScript client merges exactly like the Python reference (`apply_patch`).

A node process loads the shipped ``lightflow-live.js`` (its merge part runs without a
DOM) and answers one JSON line per case: the HTML after each patch, or the path of the
`PatchError`. Python produces the patches (`DiffState` over Hypothesis state
sequences, then mutated copies of real patches) and is the oracle. Integral floats
(``1.0``) are left out of mutations: JSON.parse cannot tell them from ``1`` and no
server sends them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lightflow_actors.live as live_package
from lightflow_actors.live import (
    ClientState,
    DiffState,
    PatchDecodeError,
    PatchError,
    apply_patch,
    client_html,
    decode_patch,
    encode_patch,
)

from .live_shapes import Shape, render_shape, shapes

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")
CLIENT = Path(live_package.__file__).parent / "static" / "lightflow-live.js"

HARNESS = r"""
const merge = require(process.argv[2]);
const readline = require("readline");
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const { start, patches } = JSON.parse(line);
  let state = merge.emptyState();
  const results = [];
  const run = (patch) => {
    try { state = merge.applyPatch(state, patch); return { html: merge.toHtml(state) }; }
    catch (e) {
      if (!(e instanceof merge.PatchError)) return { crash: String(e && e.stack || e) };
      return { error: e.path };
    }
  };
  for (const p of start) run(p);
  for (const p of patches) results.push(run(p));
  process.stdout.write(JSON.stringify(results) + "\n");
});
"""


class Node:
    def __init__(self, tmp: Path) -> None:
        script = tmp / "harness.js"
        script.write_text(HARNESS)
        assert NODE is not None
        self.proc = subprocess.Popen(
            [NODE, str(script), str(CLIENT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def run(self, start: list[bytes], patches: list[bytes]) -> list[dict[str, str]]:
        """Merge `start` (errors ignored), then each of `patches`: HTML or error path each."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        start_json = ",".join(p.decode() for p in start)
        patches_json = ",".join(p.decode() for p in patches)
        line = f'{{"start":[{start_json}],"patches":[{patches_json}]}}\n'
        self.proc.stdin.write(line)
        self.proc.stdin.flush()
        results: list[dict[str, str]] = json.loads(self.proc.stdout.readline())
        for result in results:
            assert "crash" not in result, result["crash"]
        return results


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    runner = Node(tmp_path_factory.mktemp("node"))
    yield runner
    runner.proc.kill()
    runner.proc.wait()


def python_results(start: list[bytes], patches: list[bytes]) -> list[dict[str, str]]:
    state = ClientState()
    for data in start:
        state = apply_patch(state, decode_patch(data))
    results: list[dict[str, str]] = []
    for data in patches:
        try:
            state = apply_patch(state, decode_patch(data))
        except PatchError as error:
            results.append({"error": error.path})
            continue
        except PatchDecodeError:
            results.append({"error": "$"})
            continue
        results.append({"html": client_html(state)})
    return results


def wire(states: list[Shape]) -> list[bytes]:
    diff = DiffState()
    return [encode_patch(diff.diff(render_shape(s))) for s in states]


@settings(max_examples=150, deadline=None)
@given(st.lists(shapes(), min_size=1, max_size=8))
def test_js_merge_equals_python_on_real_patch_sequences(node: Node, states: list[Shape]) -> None:
    patches = wire(states)
    js = node.run([], patches)
    assert js == python_results([], patches)
    assert js[-1] == {"html": client_html(_merged(patches))}


def _merged(patches: list[bytes]) -> ClientState:
    state = ClientState()
    for data in patches:
        state = apply_patch(state, decode_patch(data))
    return state


LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-2, 4)
    | st.sampled_from(["a", "b", "0", "1", "s", "__proto__"])
    | st.text(max_size=3)
)
JSON = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["s", "e", "k", "d", "m", "i", "u", "0", "1", "07"]), inner
        )
    ),
    max_leaves=8,
)


def _paths(value: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


@settings(max_examples=300, deadline=None)
@given(st.lists(shapes(), min_size=2, max_size=4), st.data())
def test_js_refuses_exactly_what_python_refuses(
    node: Node, states: list[Shape], data: st.DataObject
) -> None:
    patches = wire(states)
    target = msgspec.json.decode(patches[-1])
    paths = _paths(target)[1:]
    if paths:
        path = data.draw(st.sampled_from(paths))
        parent: object = target
        for part in path[:-1]:
            parent = parent[part]  # type: ignore[index]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON)  # type: ignore[index]
    mutated = msgspec.json.encode(target)
    expected = python_results(patches[:-1], [mutated])
    got = node.run(patches[:-1], [mutated])
    # Accepting and refusing must agree; so must the HTML of an accepted patch.
    assert ("html" in got[0]) == ("html" in expected[0]), (mutated, got, expected)
    if "html" in got[0]:
        assert got == expected


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ('{"r":{"0":"x"}}', "$.r"),
        ('{"r":{"s":9,"0":"x"}}', "$.r.s"),
        ('{"r":{"s":"0"}}', "$.r.s"),
        ('{"t":{"0":["a","b"]},"r":{"s":0}}', "$.r"),
        ('{"t":{"0":["a","b"]},"r":{"s":0,"1":"x"}}', "$.r.1"),
        ('{"t":{"0":["a","b"]},"r":{"s":0,"00":"x"}}', "$.r.00"),
        ('{"t":{"0":[]},"r":{"s":0}}', "$.t.0"),
        ('{"t":{"0":["a"]},"r":{"s":0,"e":[]}}', "$.r"),
        ('{"t":{"0":["a","b"]},"r":{"s":0,"e":[{}],"k":["a","a"]}}', "$.r.k.1"),
        ('{"t":{"0":["a","b"]},"r":{"s":0,"0":7}}', "$.r.0"),
        ('{"t":{"0":["<",">"]},"r":{"s":0,"0":{"s":0,"0":"x"}}}', None),
    ],
)
def test_specific_patches_fail_at_the_same_path(node: Node, patch: str, path: str | None) -> None:
    expected = python_results([], [patch.encode()])
    assert node.run([], [patch.encode()]) == expected
    if path is not None:
        assert expected == [{"error": path}]
