"""Whatever names a generator accepts, the code it writes passes ruff and is already
formatted: no line past 100 columns at the longest names, no generated name shadowing
another (hypothesis, with the maxima as explicit examples). Refused names are refused
with `GeneratorInputError`, never by writing code that does not pass."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from lightflow_actors.adapters.cli.scaffold import (
    FIELD_TYPES,
    GeneratorInputError,
    Planned,
    Project,
    check_name,
    parse_fields,
    plan_asset,
    plan_auth,
    plan_html,
    plan_json,
    plan_live,
    plan_migration,
    plan_project,
    register_auth,
    register_html,
    register_json,
    register_live,
    write_planned,
)

NAMES = st.from_regex(r"[a-z][a-z0-9]{0,9}(?:[-_][a-z0-9]{1,9}){0,3}", fullmatch=True)
VIEWS = st.from_regex(r"[a-z][a-z0-9]{0,5}(?:[-_][a-z0-9]{1,6}){0,2}", fullmatch=True)
FIELD_NAMES = st.from_regex(r"[a-z][a-z0-9]{0,7}(?:_[a-z0-9]{1,7}){0,2}", fullmatch=True)
FIELDS = st.lists(
    st.builds(
        lambda name, type_, optional: f"{name}:{type_}{'?' if optional else ''}",
        FIELD_NAMES,
        st.sampled_from(FIELD_TYPES),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda spec: spec.split(":")[0],
)
LONG = "abcdefghij-klmnopqrst-uvwxyzabcd-efghijk"  # 40 characters, the longest name
LONG_VIEW = "abcdefghij-klmnopqrs"  # 20, the longest view name
LONG_FIELDS = [f"{kind}_{'x' * (19 - len(kind))}_1:{kind}" for kind in FIELD_TYPES]


def ruff(root: Path, *argv: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *argv, "--no-cache", "."],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@settings(max_examples=15, deadline=None)
@given(project=NAMES, view=VIEWS, fields=FIELDS, asset=NAMES)
@example(project=LONG, view=LONG_VIEW, fields=LONG_FIELDS, asset=LONG)
@example(project="a", view="a", fields=["a0000000_0000000_0000000:date"], asset="a")
@example(project=LONG, view="a", fields=[f"{'d' * 40}:date", f"{'i' * 40}:int"], asset="a")
@example(project="a", view="news", fields=["a:text"], asset="b")
@example(project="l", view="l", fields=["l:str"], asset="l")
@example(project="shop", view="news", fields=["l_:str"], asset="l-l")
def test_code_generated_for_any_accepted_names_passes_ruff(
    project: str, view: str, fields: list[str], asset: str
) -> None:
    try:
        name = check_name(project, "project")
        view_name = check_name(view, "view")
        asset_name = check_name(asset, "asset")
        specs = parse_fields(fields)
    except GeneratorInputError:
        return
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / name.text
        write_planned(root, plan_project(name, root))
        target = Project(root, name)
        planned: list[Planned] = []
        try:
            planned += plan_live(view_name, specs, target)
            planned += plan_json(view_name, specs, target)
            planned += plan_html(view_name, specs, target)
            planned += plan_auth(target)
            planned += plan_migration(asset_name, view_name, target)
            planned += plan_asset("provider", asset_name, target)
            planned += plan_asset("workflow", asset_name, target)
        except GeneratorInputError:
            return
        write_planned(root, planned, force=True)
        register_live(view_name, target)
        register_json(view_name, target)
        register_html(view_name, target)
        register_auth(target)
        node = Path(folder) / "node"  # a node's id may not be a workflow's: a project each
        write_planned(node, plan_project(name, node))
        write_planned(node, plan_asset("node", asset_name, Project(node, name)), force=True)
        for checked in (root, node):
            ruff(checked, "check")
            ruff(checked, "format", "--check")


def test_an_asset_function_may_not_shadow_its_decorator(tmp_path: Path) -> None:
    project = Project(tmp_path, check_name("shop", "p"))
    for kind, text in (("provider", "provider"), ("workflow", "provider"), ("node", "node")):
        try:
            plan_asset(kind, check_name(text, "n"), project)  # type: ignore[arg-type]
        except GeneratorInputError as exc:
            assert "shadow" in str(exc)
        else:
            raise AssertionError(f"{kind} {text!r} was accepted")
    assert plan_asset("node", check_name("provider", "n"), project)
    assert plan_asset("provider", check_name("node", "n"), project)


def test_record_and_view_names_the_module_uses_itself_are_refused(tmp_path: Path) -> None:
    project = Project(tmp_path, check_name("shop", "p"))
    fields = parse_fields(["title:str"])
    for view in ("entries", "forms", "states", "templates", "ids", "paths", "stores"):
        try:
            plan_live(check_name(view, "v"), fields, project)
        except GeneratorInputError as exc:
            assert "--singular" in str(exc)
        else:
            raise AssertionError(f"the view {view!r} was accepted")
    for view in ("live", "actors"):
        try:
            plan_live(check_name(view, "v"), fields, project, record=check_name("item", "r"))
        except GeneratorInputError as exc:
            assert "clash" in str(exc)
        else:
            raise AssertionError(f"the view {view!r} was accepted")


def test_a_name_that_reads_as_one_is_refused_with_what_to_do() -> None:
    for call in (lambda: check_name("l", "view"), lambda: parse_fields(["l:str"])):
        try:
            call()
        except GeneratorInputError as exc:
            assert "E741" in str(exc) and "e.g." in str(exc)
        else:
            raise AssertionError("'l' was accepted")
