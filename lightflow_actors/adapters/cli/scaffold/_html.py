"""``lightflow new html NAME FIELD:TYPE ...``: server-rendered CRUD pages over a struct.

The generated module (``src/<package>/pages/<name>.py``) has the record struct, a
store actor (``templates/crud/store.py.tmpl``) and the pages at ``/<name>``: a list,
a record's page, forms checked by ``to_form`` with each field's error, redirects after
each POST, and a CSRF token and an Origin check on every POST. Its tests drive the
pages through Starlette's client. `register_html` adds the pages and the store to
``app.py`` at the marked lines.
"""

from __future__ import annotations

from typing import Final

from ._crud import (
    app_names,
    base_values,
    check_resource,
    imported,
    register_resource,
    resource_files,
)
from ._files import Planned
from ._live import _CHANGED, _INPUT_TYPE, _INVALID, _VALID
from ._names import FieldSpec, Name
from ._target import Project
from ._templates import render

_KIND: Final = {**_INPUT_TYPE, "bool": "checkbox", "text": "textarea"}


def plan_html(
    name: Name, fields: tuple[FieldSpec, ...], project: Project, *, record: Name | None = None
) -> list[Planned]:
    """The pages' module, its package's ``__init__`` and its tests for `name`."""
    record = check_resource("html", name, fields, record)
    values = base_values("html", name, record, fields, project)
    routes, start = app_names("html", name)
    values["test_imports"] = imported("MAX_BODY", "MAX_FIELDS", "PREFIX", routes, start)
    values["field_kinds"] = (
        "{\n" + "".join(f'    "{f.name}": "{_KIND[f.type]}",\n' for f in fields) + "}"
    )
    values["header_cells"] = "\n".join(f'    "<th>{_label(f)}</th>"' for f in fields)
    values["row_cells"] = "\n".join(
        f"    '<td class=\"{f.name}\">{{{f.name}}}</td>'" for f in fields
    )
    values["show_items"] = "\n".join(
        f'    "<dt>{_label(f)}</dt>"\n    \'<dd id="{record.text}-{f.name}">{{{f.name}}}</dd>\''
        for f in fields
    )
    values["form_fields"] = "\n".join(f'    "{{{f.name}}}"' for f in fields)
    values["valid"] = _literal(fields, valid=True)
    values["changed"] = _literal(fields, valid=False)
    shown = next(f for f in fields if f.name == values["shown_field"])
    values["shown_valid"] = _shown(shown, valid=True)
    values["shown_changed"] = _shown(shown, valid=False)
    values["html_invalid_test"] = _invalid_test(fields, record)
    doc = '"""The app\'s server-rendered pages (``lightflow new html NAME`` adds one)."""\n'
    return resource_files("html", name, project, values, doc)


def register_html(name: Name, project: Project) -> list[str]:
    """Add the pages and the store to ``app.py`` (once)."""
    return register_resource("html", name, project, f"/{name.text}")


def _label(field: FieldSpec) -> str:
    return field.label


def _literal(fields: tuple[FieldSpec, ...], *, valid: bool) -> str:
    """The form's fields as a browser posts them (an unchecked box is left out)."""
    table = _VALID if valid else _CHANGED
    items = [
        f'    "{f.name}": "{"true" if f.type == "bool" else table[f.type]}",\n'
        for f in fields
        if f.type != "bool" or valid
    ]
    return "{\n" + "".join(items) + "}" if items else "{}"


def _shown(field: FieldSpec, *, valid: bool) -> str:
    if field.type == "bool":
        return "yes" if valid else "no"
    return (_VALID if valid else _CHANGED)[field.type]


def _invalid_test(fields: tuple[FieldSpec, ...], record: Name) -> str:
    bad = next((f for f in fields if f.type != "bool" and not f.optional), None)
    if bad is None:
        return ""
    return render(
        "html/invalid_test.py.tmpl",
        field=bad.name,
        bad=_INVALID[bad.type],
        record_text=record.text,
    )
