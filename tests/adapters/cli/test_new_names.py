"""Names and field specs of `lightflow new`: hostile input (keywords, dashes, unicode,
paths such as ``../x``, modules the project imports) gets a clear error naming what is
wrong, exits 2 and writes nothing; whatever is accepted is a safe file name, module and
identifier."""

from __future__ import annotations

import keyword
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors.adapters.cli.scaffold import (
    FIELD_TYPES,
    GeneratorInputError,
    Project,
    check_name,
    find_project,
    parse_fields,
    plan_live,
    singular,
)

from .new_cli import run_new

HOSTILE_NAMES = [
    "",
    "../x",
    "..",
    ".",
    "a/b",
    "/etc",
    "a\\b",
    "-shop",
    "shop-",
    "shop--lines",
    "Shop",
    "1shop",
    "shop lines",
    "shop.lines",
    "café",
    "\u0455hop",  # a Cyrillic look-alike of "shop"
    "shop\x00",
    "shop\n",
    "class",
    "match",  # a soft keyword
    "os",
    "json",
    "lightflow-actors",
    "msgspec",
    "tests",
    "x" * 41,
]


@pytest.mark.parametrize("text", HOSTILE_NAMES)
def test_a_hostile_name_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(GeneratorInputError) as caught:
        check_name(text, "the view name")
    message = str(caught.value)
    assert message.startswith("the view name")
    assert "\n" not in message and "\x00" not in message  # shown escaped, never raw


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("../x", "no paths"),
        ("class", "keyword"),
        ("os", "shadow"),
        ("x" * 41, "longer than 40"),
        ("", "empty"),
    ],
)
def test_the_error_says_what_to_do(text: str, hint: str) -> None:
    with pytest.raises(GeneratorInputError, match=hint):
        check_name(text, "the project name")


@given(st.text(max_size=60))
def test_any_text_is_refused_or_a_safe_name(text: str) -> None:
    try:
        name = check_name(text, "the name")
    except GeneratorInputError as exc:
        assert str(exc).startswith("the name")
        return
    assert name.text.isascii() and name.text == text
    assert name.module.isidentifier() and not keyword.iskeyword(name.module)
    assert name.camel.isidentifier()
    assert "/" not in text and "." not in text and "\\" not in text
    root = Path("/project")
    assert (root / text).resolve().parent == root


@given(st.from_regex(r"[a-z][a-z0-9]{0,8}(?:[-_][a-z0-9]{1,8}){0,3}", fullmatch=True))
def test_a_plain_name_is_accepted_unless_it_is_a_keyword_or_a_taken_module(text: str) -> None:
    try:
        name = check_name(text, "the name")
    except GeneratorInputError as exc:
        assert "keyword" in str(exc) or "shadow" in str(exc) or "E741" in str(exc)
        return
    assert name.module == text.replace("-", "_")
    assert singular(name).module.isidentifier()


SPEC_PARTS = st.one_of(
    st.sampled_from(["name", "price", "in_stock", "class", "id", "form", "-x", "a-b", "é"]),
    st.text(max_size=12),
)
SPECS = st.lists(
    st.builds(
        lambda name, sep, type_, optional: f"{name}{sep}{type_}{optional}",
        SPEC_PARTS,
        st.sampled_from([":", "", "::", "="]),
        st.one_of(st.sampled_from(FIELD_TYPES), st.text(max_size=6)),
        st.sampled_from(["", "?", "??"]),
    ),
    max_size=5,
)


@given(SPECS)
def test_any_field_specs_are_refused_with_their_position_or_parse(specs: list[str]) -> None:
    try:
        fields = parse_fields(specs)
    except GeneratorInputError as exc:
        message = str(exc)
        assert message.startswith("field ") or message.startswith("give at least one field")
        assert message.isascii()  # the spec is shown escaped
        return
    assert len(fields) == len(specs)
    assert len({f.name for f in fields}) == len(fields)
    for spec, field in zip(specs, fields, strict=True):
        assert field.name.isidentifier() and field.name.isascii()
        assert not keyword.iskeyword(field.name) and not keyword.issoftkeyword(field.name)
        assert field.type in FIELD_TYPES
        assert spec == f"{field.name}:{field.type}{'?' if field.optional else ''}"


@pytest.mark.parametrize(
    ("specs", "hint"),
    [
        (["price"], "field 1 ('price') has no type"),
        (["price:money"], "unknown type 'money'"),
        (["name:str", "class:int"], "field 2 ('class:int'): 'class' is a Python keyword"),
        (["id:str"], "used by the generated code"),
        (["Name:str"], "not a Python field name"),
        (["na-me:str"], "not a Python field name"),
        (["caf\u00e9:str"], "'caf\\xe9'"),
        (["../x:str"], "not a Python field name"),
        (["name:str", "name:int"], "given twice"),
        ([], "give at least one field"),
    ],
)
def test_a_bad_field_spec_names_its_position_and_the_fix(specs: list[str], hint: str) -> None:
    with pytest.raises(GeneratorInputError) as caught:
        parse_fields(specs)
    assert hint in str(caught.value)


def test_names_a_view_needs_are_checked_against_each_other(tmp_path: Path) -> None:
    project = Project(tmp_path, check_name("shop", "p"))
    fields = parse_fields(["name:str"])
    with pytest.raises(GeneratorInputError, match="pass --singular"):
        plan_live(check_name("news", "v"), fields, project, record=check_name("news", "r"))
    with pytest.raises(GeneratorInputError, match="record's own name"):
        plan_live(check_name("products", "v"), parse_fields(["product:str"]), project)
    with pytest.raises(GeneratorInputError, match="longer than 20"):
        plan_live(check_name("a" * 21, "v"), fields, project)
    with pytest.raises(GeneratorInputError, match="longer than 24"):
        plan_live(check_name("products", "v"), parse_fields(["a" * 25 + ":str"]), project)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("names")
    code, _, err = run_new(["new", "project", "shop", "--runtime-path", "/nonexistent"], parent)
    assert code == 2 and "--runtime-path" in err
    code, _, err = run_new(["new", "project", "shop"], parent)
    assert code == 0, err
    return parent / "shop"


def listing(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["live", "workflow", "node", "provider"]),
    name=st.one_of(st.sampled_from(HOSTILE_NAMES[1:]), st.text(min_size=1, max_size=20)),
)
def test_the_cli_refuses_a_hostile_name_with_exit_2_and_writes_nothing(
    generated: Path, kind: str, name: str
) -> None:
    try:
        check_name(name, "n")
    except GeneratorInputError:
        pass
    else:
        return  # a plain name: the other tests generate those
    before = listing(generated.parent)
    extra = ["name:str"] if kind == "live" else []
    code, _, err = run_new(["new", kind, "--", name, *extra], generated)
    assert code == 2, err
    assert err.startswith(f"lightflow new {kind}: the {'view' if kind == 'live' else kind} name")
    assert listing(generated.parent) == before


@pytest.mark.parametrize(
    "fields",
    [["name:str", "class:int"], ["price:money"], ["../x:str"], ["name"], ["a-b:int"]],
)
def test_the_cli_refuses_bad_fields_with_exit_2_and_writes_nothing(
    generated: Path, fields: list[str]
) -> None:
    before = listing(generated.parent)
    code, _, err = run_new(["new", "live", "products", *fields], generated)
    assert code == 2 and err.startswith("lightflow new live: field ")
    assert listing(generated.parent) == before


@pytest.mark.parametrize(
    ("pyproject", "hint"),
    [
        (b"\xff\xfe not utf-8", "not valid TOML"),
        (b"[project\nname = ", "not valid TOML"),
        (b"x = " + b"[" * 100_000 + b"]" * 100_000, "not valid TOML"),
        (b'[project]\nname = "../x"\n', "not a plain name"),
        (b'[tool.lightflow]\npackage = "os"\n', "shadow"),
        (b"[tool.lightflow]\npackage = 3\n", "names no package"),
        (b"", "names no package"),
    ],
    ids=["utf8", "toml", "nested", "traversal", "stdlib", "type", "empty"],
)
def test_a_bad_pyproject_is_refused_with_the_reason(
    tmp_path: Path, pyproject: bytes, hint: str
) -> None:
    (tmp_path / "pyproject.toml").write_bytes(pyproject)
    with pytest.raises(GeneratorInputError, match=hint):
        find_project(tmp_path)


def test_a_folder_without_a_project_says_how_to_make_one(tmp_path: Path) -> None:
    code, _, err = run_new(["new", "workflow", "summarize"], tmp_path)
    assert code == 2 and "lightflow new project NAME" in err
    assert list(tmp_path.iterdir()) == []
