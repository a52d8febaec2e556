"""``lightflow new json NAME FIELD:TYPE ...``: typed JSON CRUD routes over a struct.

The generated module (``src/<package>/api/<name>.py``) has the record struct, a store
actor (``templates/crud/store.py.tmpl``), the routes at ``/api/<name>`` (list with
paging, show, create, update, delete) and their OpenAPI fragment; its tests drive the
routes through Starlette's client with good, wrong and hostile bodies. `register_json`
adds the routes and the store to ``app.py`` at the marked lines.
"""

from __future__ import annotations

from ._crud import (
    JSON_CHANGED,
    JSON_VALID,
    JSON_WRONG,
    app_names,
    base_values,
    check_resource,
    imported,
    register_resource,
    resource_files,
)
from ._files import Planned
from ._names import FieldSpec, Name
from ._target import Project


def plan_json(
    name: Name, fields: tuple[FieldSpec, ...], project: Project, *, record: Name | None = None
) -> list[Planned]:
    """The API module, its package's ``__init__`` and its tests for resource `name`."""
    record = check_resource("json", name, fields, record)
    values = base_values("json", name, record, fields, project)
    routes, start = app_names("json", name)
    values["test_imports"] = imported("MAX_BODY", "PREFIX", routes, start, "openapi")
    values["valid"] = _literal(fields, valid=True)
    values["changed"] = _literal(fields, valid=False)
    values["json_invalid_test"] = _invalid_test(fields)
    doc = '"""The app\'s JSON APIs, one module each (``lightflow new json NAME`` adds one)."""\n'
    return resource_files("json", name, project, values, doc)


def register_json(name: Name, project: Project) -> list[str]:
    """Add the routes and the store to ``app.py`` (once)."""
    return register_resource("json", name, project, f"/api/{name.text}")


def _value(field: FieldSpec, valid: bool) -> str:
    if field.type == "bool":
        return repr(valid)
    if field.type == "date":
        return '"2024-05-17"' if valid else '"2025-01-02"'
    return (JSON_VALID if valid else JSON_CHANGED)[field.type]


def _literal(fields: tuple[FieldSpec, ...], *, valid: bool) -> str:
    items = "".join(f'    "{f.name}": {_value(f, valid)},\n' for f in fields)
    return "{\n" + items + "}"


def _invalid_test(fields: tuple[FieldSpec, ...]) -> str:
    """A wrong value for the first field that is not a check box (else the first), and
    the first required field left out, each refused naming the field."""
    wrong = next((f for f in fields if f.type != "bool"), fields[0])
    lines = [
        f'    wrong = client.post(URL, json={{**VALID, "{wrong.name}": {JSON_WRONG[wrong.type]}}})',
        f'    assert (wrong.status_code, wrong.json()["field"]) == (422, "{wrong.name}")',
    ]
    required = next((f for f in fields if not f.optional and f.type != "bool"), None)
    if required is not None:
        lines += [
            f'    left_out = {{k: v for k, v in VALID.items() if k != "{required.name}"}}',
            "    missing = client.post(URL, json=left_out)",
            '    assert (missing.status_code, missing.json()["field"])'
            f' == (422, "{required.name}")',
        ]
    return "\n".join(lines) + "\n"
