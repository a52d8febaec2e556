"""Asset discovery: metadata is read without executing files; a bad file is a typed problem
naming the file, line and failure, beside the good assets (never an error of the whole
scan); loading a definition is a separate, explicit step."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors.flow import (
    AssetCatalog,
    AssetError,
    AssetKindMismatch,
    AssetLoadError,
    AssetSyntaxError,
    Invalid,
    MalformedMetadata,
    Model,
    UnknownAsset,
    Workflow,
    check_kind,
    read_metadata,
)

KINDS = ("model", "node", "composition", "workflow", "preset", "policy")


def meta(asset_id: str, kind: str, stability: str = "stable") -> str:
    return (
        f'METADATA = {{"id": "{asset_id}", "title": "T", "kind": "{kind}", '
        f'"description": "D", "stability": "{stability}"}}\n'
    )


def test_repository_assets_list_every_kind(catalog: AssetCatalog) -> None:
    ids = {kind: [a.id for a in catalog.list(kind)] for kind in KINDS}  # type: ignore[arg-type]
    assert {"text-plan", "word-count", "thread-ask", "article"} <= set(ids["workflow"])
    assert {"gpt-4o-mini", "claude-haiku"} <= set(ids["model"])
    assert ids["composition"] == ["draft-review"]
    assert ids["node"] == ["text.word-count"]
    assert "patient" in ids["policy"] and ids["preset"] == ["text-plan.tea"]
    for info in catalog.list():
        assert info.line >= 1 and Path(info.path).is_file()


def test_listing_never_executes_asset_code(write_asset, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    write_asset(
        "workflows",
        "evil.py",
        f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit(3)\n"
        + meta("evil", "workflow"),
    )
    catalog = AssetCatalog.scan(tmp_path / "assets")
    assert [a.id for a in catalog.list("workflow")] == ["evil"]
    assert not marker.exists()
    with pytest.raises(AssetLoadError, match=r"evil.py:2: .*SystemExit"):
        catalog.load("evil", Workflow)
    assert marker.exists()  # loading is the explicit step that runs code


def test_syntax_error_names_file_and_line(write_asset, tmp_path: Path) -> None:
    path = write_asset("models", "bad.py", meta("bad", "model") + "\n\ndef broken(:\n    pass\n")
    write_asset("models", "good.py", meta("good", "model"))
    with pytest.raises(AssetSyntaxError) as err:
        read_metadata(path, "model")
    assert err.value.path == path and err.value.line == 4
    assert f"{path}:4" in str(err.value) and err.value.reason == "invalid"
    catalog = AssetCatalog.scan(tmp_path / "assets")
    assert [a.id for a in catalog.list()] == ["good"]  # the bad file hides nothing
    (problem,) = catalog.problems
    assert (problem.path, problem.line, problem.kind, problem.failure) == (
        str(path),
        4,
        "model",
        "syntax",
    )
    assert problem.error == str(err.value)


def test_kind_must_match_folder(write_asset, tmp_path: Path) -> None:
    path = write_asset("nodes", "n.py", '"""doc"""\n\n' + meta("n", "workflow"))
    with pytest.raises(AssetKindMismatch) as err:
        read_metadata(path, "node")
    assert err.value.line == 3 and str(path) in str(err.value)
    assert "'workflow'" in str(err.value) and "'node'" in str(err.value)
    listing = AssetCatalog.scan(tmp_path / "assets").listing("node")
    assert listing.assets == [] and [p.failure for p in listing.problems] == ["kind_mismatch"]
    assert AssetCatalog.scan(tmp_path / "assets").listing("workflow").problems == []


def test_duplicate_ids_name_both_files_and_take_neither(write_asset, tmp_path: Path) -> None:
    first = write_asset("models", "a.py", meta("same", "model"))
    second = write_asset("workflows", "b.py", "\n" + meta("same", "workflow"))
    write_asset("workflows", "c.py", meta("other", "workflow"))
    catalog = AssetCatalog.scan(tmp_path / "assets")
    assert [a.id for a in catalog.list()] == ["other"]
    assert [(p.path, p.line, p.failure) for p in catalog.problems] == [
        (str(first), 1, "duplicate"),
        (str(second), 2, "duplicate"),
    ]
    message = catalog.problems[0].error
    assert f"{second}:2" in message and f"{first}:1" in message
    with pytest.raises(UnknownAsset, match="could not be read"):
        catalog.info("same", "workflow")


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("X = 1\n", 1, "no top-level METADATA"),
        ("METADATA = dict(id='x')\n", 1, "plain literal"),
        ('\nMETADATA = {"id": f"{1}"}\n', 2, "plain literal"),
        ('METADATA = {"id": "x"}\n', 1, "missing required field"),
        (meta("x", "model", stability="beta"), 1, "stability"),
        (meta("x", "spaceship"), 1, "kind"),
        (meta("../x", "model"), 1, "asset id"),
        (meta("x", "model") + meta("y", "model"), 2, "more than once"),
        (
            'METADATA = {"id": "x", "title": "T", "kind": "model", "description": "D", '
            '"stability": "stable", "extra": 1}\n',
            1,
            "unknown field",
        ),
        ("METADATA = A = {}\n", 1, "own"),
        ("METADATA = [1, 2]\n", 1, "METADATA is invalid"),
    ],
)
def test_malformed_metadata(write_asset, source: str, line: int, fragment: str) -> None:
    path = write_asset("models", "m.py", source)
    with pytest.raises(MalformedMetadata) as err:
        read_metadata(path, "model")
    assert err.value.line == line
    assert fragment in str(err.value) and str(path) in str(err.value)


def test_nul_bytes_and_huge_files_are_typed_errors(tmp_path: Path) -> None:
    nul = tmp_path / "nul.py"
    nul.write_bytes(b"METADATA = {}\x00\n")
    with pytest.raises(AssetSyntaxError):
        read_metadata(nul)
    huge = tmp_path / "huge.py"
    huge.write_bytes(b"#" * (2 << 20))
    with pytest.raises(MalformedMetadata, match="larger than"):
        read_metadata(huge)


def test_load_checks_definition_type(write_asset, tmp_path: Path) -> None:
    write_asset(
        "models",
        "m.py",
        meta("m", "model") + "from lightflow_actors.flow import Preset\n"
        "DEFINITION = Preset(workflow='w', inputs={})\n",
    )
    write_asset("models", "none.py", meta("none", "model"))
    write_asset(
        "models",
        "ok.py",
        meta("ok", "model") + "from lightflow_actors.flow import Model\n"
        "DEFINITION = Model(provider='p', name='n', formats=('openai.chat',))\n",
    )
    catalog = AssetCatalog.scan(tmp_path / "assets")
    with pytest.raises(AssetLoadError, match="DEFINITION is a Preset"):
        catalog.load("m", Model)
    with pytest.raises(AssetLoadError, match="defines no DEFINITION"):
        catalog.load("none", Model)
    assert catalog.load("ok", Model).name == "n"
    with pytest.raises(UnknownAsset, match="no workflow asset 'ok'"):
        catalog.load("ok", Workflow)
    assert UnknownAsset.reason == "not_found"


def test_runtime_error_in_asset_names_its_line(write_asset, tmp_path: Path) -> None:
    write_asset("models", "boom.py", meta("boom", "model") + "x = 1\ny = 1 / 0\n")
    catalog = AssetCatalog.scan(tmp_path / "assets")
    with pytest.raises(AssetLoadError, match=r"boom.py:3: .*ZeroDivisionError"):
        catalog.load("boom", Model)


def test_underscore_files_and_missing_folders_are_skipped(write_asset, tmp_path: Path) -> None:
    write_asset("models", "_helpers.py", "this is not python(")
    assert AssetCatalog.scan(tmp_path / "assets").list() == []


def test_check_kind_accepts_singular_and_folder_names() -> None:
    assert check_kind("workflows") == "workflow" and check_kind("model") == "model"
    assert check_kind("policies") == "policy"
    with pytest.raises(Invalid, match="unknown asset kind"):
        check_kind("spaceships")


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.text(max_size=300))
def test_any_source_text_gives_metadata_or_a_typed_error(tmp_path: Path, source: str) -> None:
    path = tmp_path / "fuzz.py"
    path.write_bytes(source.encode("utf-8", "surrogatepass"))
    try:
        read_metadata(path, "workflow")
    except AssetError as exc:
        assert exc.path == path and exc.line >= 1


_literal = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.dictionaries(
        st.sampled_from(["id", "title", "kind", "description", "stability", "x"]), _literal
    )
)
def test_any_literal_metadata_is_accepted_or_rejected_cleanly(
    tmp_path: Path, value: object
) -> None:
    path = tmp_path / "lit.py"
    path.write_text(f"METADATA = {value!r}\n")
    try:
        info = read_metadata(path, "workflow")
    except MalformedMetadata as exc:
        assert exc.line == 1
    else:
        assert info.kind == "workflow"


# -- overlays: `$LIGHTFLOW_ASSETS` adds folders to the shipped assets --------------------


def _asset(root: Path, folder: str, name: str, text: str) -> Path:
    path = root / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_an_overlay_adds_assets_and_shadows_base_ids(tmp_path: Path) -> None:
    base, mine = tmp_path / "base", tmp_path / "mine"
    shipped = _asset(base, "workflows", "plan.py", meta("plan", "workflow"))
    _asset(base, "models", "m.py", meta("m", "model"))
    mine_plan = _asset(mine, "workflows", "plan.py", meta("plan", "workflow", "draft"))
    _asset(mine, "nodes", "extra.py", meta("extra", "node"))
    catalog = AssetCatalog.scan(base, [mine])
    by_id = {a.id: a for a in catalog.list()}
    assert sorted(by_id) == ["extra", "m", "plan"]
    assert by_id["plan"].path == str(mine_plan) and by_id["plan"].stability == "draft"
    assert by_id["plan"].root == str(mine) and by_id["plan"].shadows == str(shipped)
    assert by_id["m"].root == str(base) and by_id["m"].shadows is None
    assert by_id["extra"].root == str(mine)
    assert catalog.problems == [] and catalog.overlays == (mine,)
    # A shadowed base file is out of the catalog's content hash: editing it changes nothing.
    before = catalog.digest
    shipped.write_text(meta("plan", "workflow") + "# edited\n")
    assert AssetCatalog.scan(base, [mine]).digest == before


def test_an_id_in_two_overlays_is_a_problem_naming_both(tmp_path: Path) -> None:
    base, one, two = tmp_path / "base", tmp_path / "one", tmp_path / "two"
    shipped = _asset(base, "workflows", "plan.py", meta("plan", "workflow"))
    _asset(base, "workflows", "other.py", meta("other", "workflow"))
    a = _asset(one, "workflows", "plan.py", meta("plan", "workflow"))
    b = _asset(two, "workflows", "plan2.py", meta("plan", "workflow"))
    catalog = AssetCatalog.scan(base, [one, two])
    assert [i.id for i in catalog.list()] == ["other"]  # ambiguous: none of the three
    assert [(p.path, p.failure) for p in catalog.problems] == sorted(
        [(str(a), "duplicate"), (str(b), "duplicate")]
    )
    for problem in catalog.problems:
        assert str(a) in problem.error and str(b) in problem.error
        assert f"{shipped} stays hidden" in problem.error
    with pytest.raises(UnknownAsset, match="could not be read"):
        catalog.info("plan", "workflow")


def test_a_broken_overlay_file_hides_nothing(tmp_path: Path) -> None:
    base, mine = tmp_path / "base", tmp_path / "mine"
    _asset(base, "workflows", "plan.py", meta("plan", "workflow"))
    broken = _asset(mine, "workflows", "plan.py", "METADATA = {\n")
    catalog = AssetCatalog.scan(base, [mine])
    assert [(i.id, i.root) for i in catalog.list()] == [("plan", str(base))]
    assert [(p.path, p.failure) for p in catalog.problems] == [(str(broken), "syntax")]


def test_overlay_assets_load_from_their_own_folder(tmp_path: Path) -> None:
    base, mine = tmp_path / "base", tmp_path / "mine"
    _asset(base, "models", "m.py", meta("m", "model") + "raise RuntimeError('shipped')\n")
    _asset(
        mine,
        "models",
        "m.py",
        meta("m", "model")
        + "from lightflow_actors.flow import Model\n"
        + "DEFINITION = Model(provider='p', name='mine-1', formats=['openai.chat'])\n",
    )
    model = AssetCatalog.scan(base, [mine]).load("m", Model)
    assert model.name == "mine-1"
