"""What ``lightflow new json`` and ``lightflow new html`` share: the checks of a
resource's names, the values their templates take, and the store actor they write
(``templates/crud/store.py.tmpl``), one per generated module.

A JSON API and HTML pages of the same name are separate modules with separate stores
(``<name>-api.json``, ``<name>-pages.json`` in the package's state folder), as a live
view of that name is: each generated module stands alone (ADR 0116).
"""

from __future__ import annotations

import textwrap
from typing import Final, Literal

from ._errors import GeneratorInputError
from ._files import Planned
from ._live import _ANNOTATION, _has_default, _imported, check_field_name, check_record_name
from ._names import FieldSpec, Name
from ._register import ACTORS, ROUTES, register
from ._target import Project
from ._templates import render

Kind = Literal["json", "html"]

# The package folder of each kind's modules and of their tests (and their templates'
# names: ``json/api.py.tmpl``, ``json/test_api.py.tmpl``).
FOLDERS: Final[dict[Kind, str]] = {"json": "api", "html": "pages"}

# Classes and names the generated modules define or import: the record's class may be
# none of them, nor its variable one of the module's own.
_CLASSES: Final = frozenset(
    {
        *("Entry", "Page", "PageOf", "Get", "Create", "Replace", "Delete", "StoreMessage"),
        *("Saved", "Store", "ApiError", "Handler", "Actor", "ActorRef", "ActorSystem", "Ask"),
        *("Request", "Response", "BaseRoute", "Route", "Path", "Annotated", "Any", "Final"),
        *("Awaitable", "Callable", "Form", "Rendered", "Template", "HTMLResponse"),
        *("RedirectResponse", "PlainTextResponse", "Starlette", "TestClient", "Iterator"),
        *("AsyncIterator", "PageError", "Field", "Mapping"),
    }
)
_RECORD_NAMES: Final = frozenset(
    {"id", "entry", "entries", "page", "body", "changed", "request", "store", "form"}
)
# Field names the pages' templates use for themselves.
_PAGE_NAMES: Final = frozenset({"action", "csrf", "prefix"})
# Names whose routes would be the app's own (``/live``, ``/health``, ``/api``).
_TAKEN_PATHS: Final = frozenset({"live", "health", "api", "static"})

JSON_VALID: Final = {"str": '"first"', "text": '"some words"', "int": "42", "float": "2.5"}
JSON_CHANGED: Final = {"str": '"second"', "text": '"other words"', "int": "7", "float": "3.75"}
JSON_WRONG: Final = {
    "str": "5",
    "text": "5",
    "int": '"many"',
    "float": '"lots"',
    "date": '"someday"',
    "bool": '"yes"',
}


def check_resource(
    kind: Kind, name: Name, fields: tuple[FieldSpec, ...], record: Name | None
) -> Name:
    """The record's name for resource `name` (``--singular`` or from `name`), after
    refusing names the generated code cannot use."""
    record = check_record_name(kind, name, record)
    if record.camel in _CLASSES or record.module in _RECORD_NAMES:
        raise GeneratorInputError(
            f"the record name {record.text!r} is a name the generated module uses itself; "
            "pass another with --singular NAME"
        )
    if kind == "html" and name.module in _TAKEN_PATHS:
        raise GeneratorInputError(
            f"the pages' path /{name.text} is the app's own; choose another name"
        )
    for field in fields:
        if kind == "html" and field.name in _PAGE_NAMES:
            raise GeneratorInputError(
                f"the field name {field.name!r} is used by the generated pages themselves; "
                f"choose another (e.g. '{field.name}_')"
            )
        check_field_name(field, record)
    return record


def base_values(
    kind: Kind, name: Name, record: Name, fields: tuple[FieldSpec, ...], project: Project
) -> dict[str, str]:
    """The values every json/html template takes (the store's among them)."""
    specs = (f"{f.name}:{f.type}{'?' if f.optional else ''}" for f in fields)
    typing = ["Final"]
    if kind == "json":
        typing.append("Any")
    if any(f.type not in ("bool", "date") for f in fields):
        typing.append("Annotated")
    suffix = FOLDERS[kind]
    shown = next((f for f in fields if f.type in ("str", "text")), fields[0])
    values = {
        "command": "\n".join(
            textwrap.wrap(
                " ".join([name.text, *specs]),
                width=92,
                initial_indent=f"    lightflow new {kind} ",
                subsequent_indent="        ",
                break_on_hyphens=False,
            )
        ),
        "package": project.package.module,
        "imports": "\nimport datetime" if any(f.type == "date" for f in fields) else "",
        "typing_names": ", ".join(sorted(typing)),
        "Title": name.title,
        "Records": name.camel,
        "records": name.module,
        "view_text": name.text,
        "Record": record.camel,
        "record": record.module,
        "record_text": record.text,
        "record_words": record.title.lower(),
        "Record_title": record.title,
        "record_plural_words": name.title.lower(),
        "starter": f"{name.module}_{suffix}",
        "prefix": f"/api/{name.text}" if kind == "json" else f"/{name.text}",
        "struct_fields": "\n".join(
            f"    {f.name}: {_ANNOTATION[f.type][1 if f.optional else 0]}"
            for f in sorted(fields, key=_has_default)
        ),
        "shown_field": shown.name,
    }
    values["store"] = render("crud/store.py.tmpl", **values).rstrip("\n")
    return values


def app_names(kind: Kind, name: Name) -> tuple[str, str]:
    """The route function and the store's start function ``app.py`` imports."""
    suffix = FOLDERS[kind]
    return f"{name.module}_{suffix}", f"start_{name.module}_{suffix}"


def resource_files(
    kind: Kind, name: Name, project: Project, values: dict[str, str], package_doc: str
) -> list[Planned]:
    """The package folder's ``__init__`` (kept when there), the module and its test."""
    folder, package = FOLDERS[kind], project.package_dir
    return [
        Planned(f"{package}/{folder}/__init__.py", package_doc, keep_existing=True),
        Planned(
            f"{package}/{folder}/{name.module}.py", render(f"{kind}/{folder}.py.tmpl", **values)
        ),
        Planned(
            f"tests/{folder}/test_{name.module}.py",
            render(f"{kind}/test_{folder}.py.tmpl", **values),
        ),
    ]


def register_resource(kind: Kind, name: Name, project: Project, path: str) -> list[str]:
    """Add the module's routes (served at `path`) and its store's start to ``app.py``
    (once)."""
    routes, start = app_names(kind, name)
    return register(
        project,
        f"{FOLDERS[kind]}.{name.module}",
        [routes, start],
        {ROUTES: f"        *{routes}(system),", ACTORS: f"    await {start}(system)"},
        f"added {path} to {project.package_dir}/app.py",
    )


def imported(*names: str) -> str:
    return _imported(*names)
