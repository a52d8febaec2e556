"""Malformed, oversized and hostile patches raise the typed errors and nothing else.

Decoding raises `PatchDecodeError`; merging raises `PatchError` and leaves the
client state as it was. Never IndexError, KeyError, TypeError or RecursionError.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.live import (
    ClientState,
    DiffState,
    Patch,
    PatchDecodeError,
    PatchError,
    Rendered,
    Template,
    apply_patch,
    client_html,
    decode_patch,
    each,
    encode_patch,
    keyed,
)

ROW = Template('<li id="{key}">{label}{extra}</li>')
NOTE = Template("<em>{text}</em>")
PAGE = Template("<h1>{title}</h1><ul>{rows}</ul><ol>{points}</ol>{note}")
FAST = settings(max_examples=300, deadline=None)


def render(keys: list[str], points: int, note: str | None) -> Rendered:
    rows = keyed(ROW, [(k, ROW(key=k, label=k.upper(), extra=NOTE(text=k))) for k in keys])
    items = each(NOTE, [NOTE(text=i) for i in range(points)])
    return PAGE(title="t", rows=rows, points=items, note=None if note is None else NOTE(text=note))


def client_after(*renders: Rendered) -> tuple[ClientState, list[Patch]]:
    state, client, patches = DiffState(), ClientState(), []
    for rendered in renders:
        patch = state.diff(rendered)
        patches.append(patch)
        client = apply_patch(client, patch)
    return client, patches


BASE, BASE_PATCHES = client_after(render(["r0", "r1", "r2"], 2, "n"))

KEYS = st.sampled_from(["s", "e", "k", "d", "m", "i", "u", "0", "1", "2", "3", "07", "-1", "r1"])
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-2, 4)
    | st.floats(allow_nan=False)
    | st.sampled_from(["r0", "r1", "r9", "0", "1", "s"])
    | st.text(max_size=3)
)
JSON = st.recursive(
    LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4)
)
STATICS = st.lists(st.text(max_size=3), max_size=4).map(tuple)


def merge_or_patch_error(client: ClientState, patch: Patch) -> None:
    """The one acceptable outcome: a valid new state, or PatchError with the old state intact."""
    before = client_html(client)
    try:
        merged = apply_patch(client, patch)
    except PatchError as error:
        assert error.path.startswith("$")
        assert client_html(client) == before
        return
    client_html(merged)  # a merged state always renders


@FAST
@given(st.binary(max_size=200))
def test_decoding_random_bytes(data: bytes) -> None:
    try:
        patch = decode_patch(data)
    except PatchDecodeError as error:
        assert "cannot decode patch" in str(error)
        return
    assert isinstance(patch, Patch)


@FAST
@given(JSON)
def test_decoding_random_json(value: object) -> None:
    try:
        patch = decode_patch(msgspec.json.encode(value))
    except PatchDecodeError:
        return
    merge_or_patch_error(BASE, patch)
    merge_or_patch_error(ClientState(), patch)


@FAST
@given(st.dictionaries(st.integers(0, 5), STATICS, max_size=3), st.dictionaries(KEYS, JSON))
def test_merging_random_trees(templates: Mapping[int, tuple[str, ...]], root: object) -> None:
    assert isinstance(root, dict)
    merge_or_patch_error(BASE, Patch(templates, root))
    merge_or_patch_error(ClientState(), Patch(templates, root))


def _paths(value: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


SEQUENCE = [
    render(["r0", "r1", "r2"], 2, "n"),
    render(["r2", "r9", "r0"], 4, None),
    render(["r9", "r2"], 1, "x"),
]


@FAST
@given(st.integers(0, len(SEQUENCE) - 1), st.data())
def test_merging_mutated_real_patches(step: int, data: st.DataObject) -> None:
    client, _ = client_after(*SEQUENCE[:step])
    _, patches = client_after(*SEQUENCE[: step + 1])
    wire = msgspec.json.decode(encode_patch(patches[-1]))
    path = data.draw(st.sampled_from(_paths(wire)[1:] or [("r",)]))
    parent: object = wire
    for part in path[:-1]:
        parent = parent[part]  # type: ignore[index]
    action = data.draw(st.sampled_from(["replace", "delete"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(JSON)  # type: ignore[index]
    try:
        patch = decode_patch(msgspec.json.encode(wire))
    except PatchDecodeError:
        return
    merge_or_patch_error(client, patch)


def test_deeply_nested_json_is_refused_by_the_decoder() -> None:
    deep = b'{"r":' + b'{"0":' * 100_000 + b'"x"' + b"}" * 100_001
    with pytest.raises(PatchDecodeError, match=r"deeply|JSON"):
        decode_patch(deep)


def test_deep_but_decodable_nesting_is_refused_by_the_merge() -> None:
    one = Template("<b>{x}</b>")
    node: dict[str, object] = {"s": 0, "0": "leaf"}
    for _ in range(300):
        node = {"s": 0, "0": node}
    with pytest.raises(PatchError, match="deeper than"):
        apply_patch(ClientState(), Patch({0: one.statics}, node))


def test_oversized_patch_is_refused_before_decoding() -> None:
    with pytest.raises(PatchDecodeError, match="exceeds the limit"):
        decode_patch(b'{"r":{"0":"' + b"x" * 1000 + b'"}}', max_bytes=100)


@pytest.mark.parametrize(
    ("wire", "path", "problem"),
    [
        ('{"r":{"0":"x"}}', "$.r", "holds nothing"),
        ('{"r":{"s":9,"0":"x"}}', "$.r.s", "never sent"),
        ('{"r":{"s":"0"}}', "$.r.s", "template id"),
        ('{"t":{"0":["a","b"]},"r":{"s":0}}', "$.r", "needs keys"),
        ('{"t":{"0":["a","b"]},"r":{"s":0,"1":"x"}}', "$.r.1", "out of range"),
        ('{"t":{"0":["a","b"]},"r":{"s":0,"00":"x"}}', "$.r.00", "not a dynamic index"),
        ('{"t":{"0":[]},"r":{"s":0}}', "$.t.0", "at least one"),
        ('{"t":{"0":["a"]},"r":{"s":0,"e":[]}}', "$.r", "root must be a template node"),
        ('{"t":{"0":["a","b"]},"r":{"s":0,"e":[{}],"k":["a","a"]}}', "$.r.k.1", "twice"),
        ('{"t":{"0":["a","b"]},"r":{"s":0,"0":7}}', "$.r.0", "names component 7"),
        ('{"t":{"0":["a","b"]},"r":{"s":0,"0":7.5}}', "$.r.0", "got a number"),
    ],
)
def test_specific_malformed_patches_name_their_path(wire: str, path: str, problem: str) -> None:
    with pytest.raises(PatchError, match=problem) as caught:
        apply_patch(ClientState(), decode_patch(wire))
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("rows_change", "problem"),
    [
        ({"d": ["nope"]}, "does not hold"),
        ({"m": [["nope", 0]]}, "does not hold"),
        ({"m": [["r0", 7]]}, "cannot place"),
        ({"m": [["r0", 0], ["r1", 0]]}, "cannot place"),
        ({"i": [["r1", 0, {"0": "a", "1": "b", "2": "c"}]]}, "already holds"),
        ({"i": [["new", 0, {"0": "a"}]]}, "needs keys"),
        ({"u": {"nope": {"0": "x"}}}, "does not hold"),
        ({"d": ["r0"], "u": {"r0": {"0": "x"}}}, "does not hold"),
        ({"x": []}, "unknown key"),
        ({"m": [["r0"]]}, "array of 2"),
        ({"m": [["r0", -1]]}, "non-negative"),
        ({"m": [["r0", True]]}, "non-negative"),
    ],
)
def test_bad_keyed_operations_are_refused(rows_change: dict[str, object], problem: str) -> None:
    with pytest.raises(PatchError, match=problem):
        apply_patch(BASE, Patch({}, {"1": rows_change}))


def test_positional_list_cannot_be_reordered_by_a_patch() -> None:
    with pytest.raises(PatchError, match="positional"):
        apply_patch(BASE, Patch({}, {"2": {"m": [["1", 0]]}}))


def test_redefining_a_known_template_id_is_refused() -> None:
    with pytest.raises(PatchError, match="redefines"):
        apply_patch(BASE, Patch({0: ("other", "statics")}, None))
    assert apply_patch(BASE, Patch({0: PAGE.statics}, None)) == BASE
