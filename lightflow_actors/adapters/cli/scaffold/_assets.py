"""``lightflow new workflow|node|provider NAME``: asset files with metadata, and tests.

Each asset is a file in the project's ``assets/<kind>s/`` folder in a format the
runtime lists without running it: a workflow is a ``METADATA`` literal and its
``DEFINITION``; a provider a ``@provider`` function and a node a ``@node`` function
(ADR 0102). So that its tests pass offline at once:

* a workflow's one step posts to thread NAME, answered by the provider NAME; the
  generator writes that provider too unless the file exists (then the user's file
  stays, whatever it holds); a node is its own tool's provider;
* the tests run a real run in-process (``tests/runs.py``), with test-only workflows in
  ``tests/assets`` (a provider's test asks its thread, a node's uses the node).
"""

from __future__ import annotations

from typing import Final, Literal

from ._errors import GeneratorInputError
from ._files import Planned
from ._names import Name
from ._target import Project
from ._templates import render

AssetKindName = Literal["workflow", "node", "provider"]
FOLDERS: Final[dict[AssetKindName, str]] = {
    "workflow": "workflows",
    "node": "nodes",
    "provider": "providers",
}


# Names a provider's or a node's file imports: its function may not take one.
_SHADOWING: Final[dict[AssetKindName, frozenset[str]]] = {
    "workflow": frozenset({"provider"}),
    "provider": frozenset({"provider"}),
    "node": frozenset({"node"}),
}


def plan_asset(kind: AssetKindName, name: Name, project: Project) -> list[Planned]:
    """The files of asset `name` of `kind` in `project`."""
    if name.module in _SHADOWING[kind]:
        raise GeneratorInputError(
            f"the {kind} name {name.text!r} would shadow the {name.module!r} its file "
            f"imports; choose another, e.g. 'my-{name.text}'"
        )
    _refuse_same_id(kind, name, project)
    values = {"text": name.text, "module": name.module, "title": name.title}

    def file(path: str, template: str, *, keep_existing: bool = False) -> Planned:
        return Planned(path, render(f"assets/{template}", **values), keep_existing=keep_existing)

    module = name.module
    helpers = [file("tests/runs.py", "runs.py.tmpl", keep_existing=True)]
    provider = file(f"assets/providers/{module}.py", "provider.py.tmpl", keep_existing=True)
    if kind == "provider":
        return [
            file(f"assets/providers/{module}.py", "provider.py.tmpl"),
            file(f"tests/assets/workflows/ask_{module}.py", "ask_workflow.py.tmpl"),
            file(f"tests/providers/test_{module}.py", "test_provider.py.tmpl"),
            *helpers,
        ]
    if kind == "workflow":
        return [
            file(f"assets/workflows/{module}.py", "workflow.py.tmpl"),
            file(f"tests/workflows/test_{module}.py", "test_workflow.py.tmpl"),
            provider,
            *helpers,
        ]
    return [
        file(f"assets/nodes/{module}.py", "node.py.tmpl"),
        file(f"tests/assets/workflows/use_{module}.py", "use_workflow.py.tmpl"),
        file(f"tests/nodes/test_{module}.py", "test_node.py.tmpl"),
        *helpers,
    ]


def _refuse_same_id(kind: AssetKindName, name: Name, project: Project) -> None:
    """Workflows and nodes share one id space: refuse a second asset of that id."""
    if kind == "provider":
        return
    other = "nodes" if kind == "workflow" else "workflows"
    path = project.root / "assets" / other / f"{name.module}.py"
    if path.exists():
        raise GeneratorInputError(
            f"assets/{other}/{name.module}.py already declares an asset named {name.text!r} "
            f"(asset ids are shared by workflows and nodes); choose another name for the {kind}"
        )
