"""`@node` functions under `<assets>/nodes/` (ADR 0102 §Nodes): listed as node assets from
the `ast` without running the file, loaded as a `Node` whose tool step sends the params and
checks the answer, scanned as the provider of their tool; misuse is a located problem."""

from __future__ import annotations

import textwrap
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors.flow import (
    AssetCatalog,
    Node,
    ProviderDeclarationError,
    ToolStep,
    node,
    node_definition,
    provider_decl,
    scan_provider_assets,
)

GOOD = '''
import msgspec
from lightflow_actors.flow import node

class Words(msgspec.Struct):
    text: str
    upper: bool = False

class Count(msgspec.Struct):
    words: int

@node(id="text.count", concurrency=2)
def count(req: Words) -> Count:
    """Counts the words of a text.

    Longer explanation, not listed."""
    return Count(len(req.text.split()))
'''

# Running this file would leave a marker file: listing it must not.
SIDE_EFFECT = """
open({marker!r}, "w").write("ran")
""" + GOOD.replace('id="text.count", ', "")


def write(root: Path, name: str, source: str | bytes) -> Path:
    folder = root / "nodes"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(source, bytes):
        path.write_bytes(source)
    else:
        path.write_text(textwrap.dedent(source))
    return path


def test_a_node_function_is_listed_without_running_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = write(tmp_path, "count.py", SIDE_EFFECT.format(marker=str(marker)))
    catalog = AssetCatalog.scan(tmp_path)
    listing = catalog.listing("node")
    assert listing.problems == []
    (info,) = listing.assets
    assert (info.id, info.kind, info.title) == ("count", "node", "count")
    assert info.description == "Counts the words of a text."
    line = path.read_text().splitlines().index("def count(req: Words) -> Count:") + 1
    assert (info.path, info.line) == (str(path), line)
    providers = scan_provider_assets([tmp_path])
    assert providers.problems == []
    (asset,) = providers.providers
    assert asset.decl.name == "count" and asset.decl.routes() == [("tool", "count")]
    assert asset.target == f"{path}:count" and not asset.is_async
    assert not marker.exists()


def test_a_node_function_loads_as_a_typed_tool_node(tmp_path: Path) -> None:
    write(tmp_path, "count.py", GOOD)
    catalog = AssetCatalog.scan(tmp_path)
    assert [a.id for a in catalog.list("node")] == ["text.count"]
    loaded = catalog.load("text.count", Node)
    params, step = loaded.params, loaded.step
    assert isinstance(step, ToolStep)
    assert (step.id, step.tool) == ("count", "text.count")
    assert step.input is params and step.output.__name__ == "Count"
    assert step.request == {"text": "{params.text}", "upper": "{params.upper}"}
    assert [f.name for f in msgspec.structs.fields(params)] == ["text", "upper"]
    (asset,) = scan_provider_assets([tmp_path]).providers
    assert (asset.decl.name, asset.decl.tool, asset.decl.concurrency) == (
        "text.count",
        ("text.count",),
        2,
    )


class In(msgspec.Struct):
    text: str


class Out(msgspec.Struct):
    text: str


def test_the_decorator_makes_a_node_and_a_typed_provider() -> None:
    @node
    def shout(req: In) -> Out:
        return Out(req.text.upper())

    @node(id="other", blocking=True)
    async def other(req: In) -> Out:
        return Out(req.text)

    assert shout(In("a")) == Out("A")  # still the function
    decl = provider_decl(shout)
    assert decl is not None and decl.tool == ("shout",) and decl.name == "shout"
    other_decl = provider_decl(other)
    assert other_decl is not None and other_decl.blocking and other_decl.tool == ("other",)
    made = node_definition(shout)
    assert made is not None and made.params is In
    assert isinstance(made.step, ToolStep) and made.step.output is Out
    assert node_definition(lambda req: req) is None


class _S(msgspec.Struct):
    text: str


def untyped(req):  # type: ignore[no-untyped-def]
    return req


def not_struct(req: dict) -> _S:  # type: ignore[type-arg]
    return _S("x")


def two(req: _S, more: _S) -> _S:
    return req


def bad_return(req: _S) -> dict:  # type: ignore[type-arg]
    return {}


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (untyped, "its parameter must be annotated with a msgspec.Struct"),
        (not_struct, "its parameter must be annotated with a msgspec.Struct"),
        (two, "exactly one argument"),
        (bad_return, "its return must be annotated with a msgspec.Struct"),
    ],
)
def test_the_decorator_refuses_what_a_node_cannot_be(fn: object, message: str) -> None:
    with pytest.raises(ProviderDeclarationError, match=message):
        node(fn)  # type: ignore[type-var]
    with pytest.raises(ProviderDeclarationError, match="must match"):
        node(id="../x")(_S)  # type: ignore[type-var]


@pytest.mark.parametrize(
    ("source", "failure", "message"),
    [
        (
            GOOD + "\n@node\ndef again(req: Words) -> Count:\n    return Count(0)\n",
            "decorator",
            "one @node",
        ),
        (GOOD.replace('id="text.count"', "id=NAME"), "decorator", "must be a literal"),
        (GOOD.replace('id="text.count"', 'id="../up"'), "decorator", "must match"),
        (GOOD.replace('id="text.count"', "colour=1"), "decorator", "unknown arguments"),
        (GOOD.replace("req: Words", "req"), "decorator", "annotate the parameter"),
        (GOOD.replace("@node(", "@node('positional', "), "decorator", "keyword arguments"),
    ],
)
def test_misuse_is_a_located_problem(
    tmp_path: Path, source: str, failure: str | None, message: str
) -> None:
    path = write(tmp_path, "bad.py", source)
    catalog_problems = AssetCatalog.scan(tmp_path).listing("node").problems
    provider_problems = scan_provider_assets([tmp_path]).problems
    problems = [p.error for p in catalog_problems] + [p.error for p in provider_problems]
    assert scan_provider_assets([tmp_path]).providers == []
    assert any(message in error for error in problems), problems
    assert all(p.path == str(path) for p in [*catalog_problems, *provider_problems])
    if failure is not None:
        assert [p.failure for p in provider_problems] == [failure]


def test_a_node_file_with_metadata_stays_a_classic_node(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "assets"
    catalog = AssetCatalog.scan(shipped)
    assert "text.word-count" in [a.id for a in catalog.list("node")]
    assert scan_provider_assets([shipped]).providers == []


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_hostile_node_files_never_crash_a_listing(tmp_path: Path, raw: bytes) -> None:
    write(tmp_path, "hostile.py", b"@node\n" + raw)
    AssetCatalog.scan(tmp_path).listing("node")
    scan_provider_assets([tmp_path])


def test_deeply_nested_node_arguments_are_a_problem_not_a_crash(tmp_path: Path) -> None:
    nested = "[" * 300 + "]" * 300
    write(tmp_path, "deep.py", GOOD.replace('id="text.count"', f"id={nested}"))
    listing = AssetCatalog.scan(tmp_path).listing("node")
    assert len(listing.problems) == 1 and listing.assets == []
    assert len(scan_provider_assets([tmp_path]).problems) == 1


def test_an_oversized_node_file_is_a_problem_and_never_parsed(tmp_path: Path) -> None:
    from lightflow_actors.flow._assets import MAX_ASSET_BYTES

    write(tmp_path, "big.py", GOOD + "#" * MAX_ASSET_BYTES)
    (problem,) = AssetCatalog.scan(tmp_path).listing("node").problems
    assert "larger than" in problem.error
    (provider_problem,) = scan_provider_assets([tmp_path]).problems
    assert "larger than" in provider_problem.error
    assert scan_provider_assets([tmp_path]).providers == []


def test_a_node_file_that_is_not_utf8_is_a_problem(tmp_path: Path) -> None:
    write(tmp_path, "latin.py", GOOD.encode().replace(b"Counts", b"Co\xffnts"))
    assert len(AssetCatalog.scan(tmp_path).listing("node").problems) == 1
    assert len(scan_provider_assets([tmp_path]).problems) == 1
