"""``lightflow new live NAME FIELD:TYPE ...``: a CRUD live view over a typed struct.

The generated module (``src/<package>/live/<name>.py``) has the record struct (the
fields as typed, each rule an annotation ``to_form`` checks), a store actor that saves
the records, a form live component, and the view: its list is a stream the session
does not keep. Its tests drive it with the test DSL and in Chromium.

The per-field parts (the struct's fields, the form's inputs, the row's cells, the
test values) are written here; everything else is the template ``live/view.py.tmpl``.
`register_live` adds the view and its store to the project's ``app.py`` at the marked
lines, and only there; without the markers it says what to add instead.
"""

from __future__ import annotations

import re
import textwrap
from string import Template
from typing import Final

from ._errors import GeneratorInputError
from ._files import Planned
from ._names import FieldSpec, Name, singular
from ._target import Project
from ._templates import render

# Long names make lines the formatter would fold differently; these keep every
# generated line within 100 columns (the tests generate at these maxima).
MAX_VIEW_NAME: Final = 20
MAX_FIELD_NAME: Final = 24

_ANNOTATION: Final = {
    "str": (
        "Annotated[str, msgspec.Meta(min_length=1, max_length=200)]",
        'Annotated[str, msgspec.Meta(max_length=200)] = ""',
    ),
    "text": (
        "Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]",
        'Annotated[str, msgspec.Meta(max_length=10_000)] = ""',
    ),
    "int": (
        "Annotated[int, msgspec.Meta(ge=-(2**53), le=2**53)]",
        "Annotated[int, msgspec.Meta(ge=-(2**53), le=2**53)] | None = None",
    ),
    "float": (
        "Annotated[float, msgspec.Meta(ge=-1e15, le=1e15)]",
        "Annotated[float, msgspec.Meta(ge=-1e15, le=1e15)] | None = None",
    ),
    "bool": ("bool = False", "bool = False"),
    "date": ("datetime.date", "datetime.date | None = None"),
}
_INPUT_TYPE: Final = {"str": "text", "int": "number", "float": "number", "date": "date"}
_VALID: Final = {
    "str": "first",
    "text": "some words",
    "int": "42",
    "float": "2.5",
    "date": "2024-05-17",
}
_CHANGED: Final = {
    "str": "second",
    "text": "other words",
    "int": "7",
    "float": "3.75",
    "date": "2025-01-02",
}
_INVALID: Final = {"int": "many", "float": "lots", "date": "someday", "str": "", "text": ""}


def plan_live(
    name: Name, fields: tuple[FieldSpec, ...], project: Project, *, record: Name | None = None
) -> list[Planned]:
    """The view module and its tests for view `name` with `fields` in `project`."""
    record = check_record_name("view", name, record)
    _refuse_clashes(name, record)
    for field in fields:
        check_field_name(field, record)
    values = _values(name, record, fields, project)
    package = project.package_dir
    return [
        Planned(f"{package}/live/{name.module}.py", render("live/view.py.tmpl", **values)),
        Planned(f"tests/live/test_{name.module}.py", render("live/test_view.py.tmpl", **values)),
        Planned(
            f"tests/live/test_{name.module}_browser.py",
            render("live/test_view_browser.py.tmpl", **values),
        ),
    ]


# Classes the generated view module and its tests define or import: the record's class
# (``--singular``) and the view's class may be none of them.
_CLASSES: Final = frozenset(
    {
        *("Entry", "ListAll", "Put", "Remove", "StoreMessage", "Store", "Validate", "Save"),
        *("Editing", "FormState", "Saved", "RecordForm", "New", "Edit", "Delete", "Cancel"),
        *("Event", "State", "Id", "Callable", "Path", "Annotated", "Final", "Actor"),
        *("ActorRef", "ActorSystem", "Ask", "Form", "FormEvent", "LiveComponent", "LiveView"),
        *("NotifyParent", "Params", "Rendered", "SendTo", "SessionInfo", "Stream"),
        *("StreamDelete", "StreamInsert", "Template", "Update", "LiveTest", "LiveHub"),
        *("LiveRoutes", "Starlette", "Mount", "AsyncIterator"),
    }
)
# Record names the module uses as its own attributes and variables.
_RECORD_NAMES: Final = frozenset({"id", "entry", "entries", "state", "message", "event"})
# View names whose ``start_<view>`` would be a function ``app.py`` already has.
_VIEW_NAMES: Final = frozenset({"actors"})


def check_record_name(kind: str, name: Name, record: Name | None) -> Name:
    """The record's name for `name` (``--singular`` or from `name`), refused when it or
    `name` is too long or both are the same; `kind` names what `name` is (view, json,
    html)."""
    record = record or singular(name)
    for checked, what in ((name, f"the {kind} name"), (record, "the record name (--singular)")):
        if len(checked.text) > MAX_VIEW_NAME:
            raise GeneratorInputError(
                f"{what} {checked.text!r} is longer than {MAX_VIEW_NAME} characters; "
                "choose a shorter one"
            )
    if record.module == name.module:
        raise GeneratorInputError(
            f"the record name equals the {kind} name {name.text!r}; pass --singular NAME"
        )
    return record


def check_field_name(field: FieldSpec, record: Name) -> None:
    """Refuse a field name that is too long or is the record's own name."""
    if len(field.name) > MAX_FIELD_NAME:
        raise GeneratorInputError(
            f"the field name {field.name!r} is longer than {MAX_FIELD_NAME} characters"
        )
    if field.name == record.module:
        raise GeneratorInputError(
            f"the field {field.name!r} has the record's own name; choose another"
        )


def _refuse_clashes(name: Name, record: Name) -> None:
    if record.camel in _CLASSES or record.module in _RECORD_NAMES:
        raise GeneratorInputError(
            f"the record name {record.text!r} is a name the generated module uses itself; "
            "pass another with --singular NAME"
        )
    if f"{name.camel}View" in _CLASSES or name.module in _VIEW_NAMES:
        raise GeneratorInputError(
            f"the view name {name.text!r} would clash with a name the generated code uses "
            "itself; choose another"
        )


def _values(
    name: Name, record: Name, fields: tuple[FieldSpec, ...], project: Project
) -> dict[str, str]:
    command = " ".join(
        [name.text, *(f"{f.name}:{f.type}{'?' if f.optional else ''}" for f in fields)]
    )
    uses_date = any(f.type == "date" for f in fields)
    kinds = {_kind(f) for f in fields}
    shown = next((f for f in fields if f.type in ("str", "text")), fields[0])
    invalid = next((f for f in fields if f.type != "bool" and not f.optional), None)
    base = {
        "view_imports": _imported(f"{name.module}_view", f"start_{name.module}"),
        "test_imports": _imported(record.camel, f"{name.module}_view", f"start_{name.module}"),
        "command": "\n".join(
            textwrap.wrap(
                command,
                width=92,
                initial_indent="    lightflow new live ",
                subsequent_indent="        ",
                break_on_hyphens=False,
            )
        ),
        "package": project.package.module,
        "imports": "\nimport datetime" if uses_date else "",
        "typing_names": (
            "Annotated, Final" if any(f.type not in ("bool", "date") for f in fields) else "Final"
        ),
        "Title": name.title,
        "Records": name.camel,
        "records": name.module,
        "view_text": name.text,
        "Record": record.camel,
        "Record_upper": record.module.upper(),
        "record": record.module,
        "record_text": record.text,
        "record_words": record.title.lower(),
        "record_plural_words": name.title.lower(),
        # Fields with a default follow the others, as a struct needs (the form keeps the
        # order given).
        "struct_fields": "\n".join(
            f"    {f.name}: {_ANNOTATION[f.type][1 if f.optional else 0]}"
            for f in sorted(fields, key=_has_default)
        ),
        "fields_markup": "\n".join(f'    "{{{f.name}}}"' for f in fields),
        "fields_values": "\n".join(
            f'            {f.name}=_{_kind(f)}(form, "{f.name}"),' for f in fields
        ),
        "field_templates": "\n\n\n".join(
            Template(_FIELD_KINDS[kind].strip()).substitute(
                Record=record.camel, record_text=record.text
            )
            for kind in sorted(kinds)
        ),
        "input_types": _input_types(fields),
        "row_markup": _row_markup(name, record, fields),
        "row_values": "\n".join(
            f"            {f.name}=_shown({record.module}.{f.name})," for f in fields
        ),
        # tests
        "valid": _literal(fields, _VALID, True),
        "changed": _literal(fields, _CHANGED, False),
        "shown_field": shown.name,
        "shown_valid": _test_value(shown, _VALID, True),
        "shown_changed": _test_value(shown, _CHANGED, False),
        "invalid_test": "",
        "fill_valid": _fills(fields, record, _VALID, True),
        "fill_changed": _fills(fields, record, _CHANGED, False),
        "browser_invalid": "",
        "markup_test": "",
    }
    if shown.type in ("str", "text"):
        base["markup_test"] = render("live/markup_test.py.tmpl", **base, field=shown.name)
    if invalid is not None:
        bad = f'"{_INVALID[invalid.type]}"'
        base["invalid_test"] = render(
            "live/invalid_test.py.tmpl", **base, field=invalid.name, bad=bad
        )
        base["browser_invalid"] = render("live/browser_invalid.py.tmpl", **base, field=invalid.name)
    return base


def _has_default(field: FieldSpec) -> bool:
    return field.optional or field.type == "bool"


def _kind(field: FieldSpec) -> str:
    if field.type == "bool":
        return "checkbox"
    if field.type == "text":
        return "textarea"
    return "input"


_FIELD_KINDS: Final = {
    "checkbox": """CHECKBOX = Template(
    '<p class="field"><label for="{id}">{label}</label> '
    '<input id="{id}" name="{name}" type="checkbox" value="true"{checked}> '
    '<span class="error" id="{id}-error">{error}</span></p>'
)


def _checkbox(form: Form[$Record], name: str) -> Rendered:
    field = form[name]
    checked = " checked" if field.value == "true" else ""
    error = "; ".join(field.shown_errors)
    return CHECKBOX(
        id=f"$record_text-{name}",
        label=_label(name),
        name=name,
        checked=checked,
        error=error,
    )

""",
    "input": """INPUT = Template(
    '<p class="field"><label for="{id}">{label}</label> '
    '<input id="{id}" name="{name}" type="{type}" step="any" value="{value}" '
    'aria-invalid="{invalid}"> <span class="error" id="{id}-error">{error}</span></p>'
)


def _input(form: Form[$Record], name: str) -> Rendered:
    field = form[name]
    return INPUT(
        id=f"$record_text-{name}",
        label=_label(name),
        name=name,
        type=_INPUT_TYPES.get(name, "text"),
        value=field.value,
        invalid="true" if field.shown_errors else "false",
        error="; ".join(field.shown_errors),
    )

""",
    "textarea": """TEXTAREA = Template(
    '<p class="field"><label for="{id}">{label}</label> '
    '<textarea id="{id}" name="{name}" aria-invalid="{invalid}">{value}</textarea> '
    '<span class="error" id="{id}-error">{error}</span></p>'
)


def _textarea(form: Form[$Record], name: str) -> Rendered:
    field = form[name]
    return TEXTAREA(
        id=f"$record_text-{name}",
        label=_label(name),
        name=name,
        value=field.value,
        invalid="true" if field.shown_errors else "false",
        error="; ".join(field.shown_errors),
    )

""",
}


def _row_markup(name: Name, record: Name, fields: tuple[FieldSpec, ...]) -> str:
    lines = [f'    \'<li id="{name.text}-{{id}}" class="{record.text}">\'']
    lines += [f"    '<span class=\"{f.name}\">{{{f.name}}}</span> '" for f in fields]
    lines.append('    \'<button class="edit" lf-click="edit" lf-target="{myself}">edit</button> \'')
    lines.append(
        '    \'<button class="delete" lf-click="delete" lf-target="{myself}">delete</button></li>\''
    )
    return "\n".join(lines)


def _input_types(fields: tuple[FieldSpec, ...]) -> str:
    """The ``type`` of each ``<input>`` that is not a text box, as a dict literal."""
    items = [
        f'"{f.name}": "{_INPUT_TYPE[f.type]}"' for f in fields if f.type in ("int", "float", "date")
    ]
    if not items:
        return "{}"
    return "{\n" + "".join(f"    {item},\n" for item in items) + "}"


def _test_value(field: FieldSpec, table: dict[str, str], valid: bool) -> str:
    if field.type == "bool":
        return "true" if valid else "false"
    return table[field.type]


def _literal(fields: tuple[FieldSpec, ...], table: dict[str, str], valid: bool) -> str:
    items = []
    for f in fields:
        value = repr(valid) if f.type == "bool" else f'"{table[f.type]}"'
        items.append(f'    "{f.name}": {value},')
    return "{\n" + "\n".join(items) + "\n}"


def _fills(fields: tuple[FieldSpec, ...], record: Name, table: dict[str, str], valid: bool) -> str:
    lines = []
    for f in fields:
        selector = f"#{record.text}-{f.name}"
        if f.type == "bool":
            verb = "check" if valid else "uncheck"
            lines.append(f'                await page.{verb}("{selector}")')
        else:
            lines.append(f'                await page.fill("{selector}", "{table[f.type]}")')
    return "\n".join(lines)


_MARKERS: Final = (
    "        # lightflow new live: views go above this line",
    "    # lightflow new live: actors go above this line",
)


def register_live(name: Name, project: Project, *, record: Name | None = None) -> list[str]:
    """Add the view and its store to ``app.py`` at the marked lines (once); return the
    steps left to the user (what to add by hand where a marker is missing)."""
    del record
    app = project.root / project.package_dir / "app.py"
    module = name.module
    view_line = f'        "{name.text}": {module}_view(system),'
    start_line = f"    await start_{module}(system)"
    names = ", ".join(sorted([f"{module}_view", f"start_{module}"], key=sort_key))
    import_line = f"from .live.{module} import {names}"
    try:
        text = app.read_text("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        text = ""
    lines = text.splitlines()
    if not all(marker in lines for marker in _MARKERS) or not _has_live_import(lines):
        return [
            f"add to {project.package_dir}/app.py: {import_line}",
            f"in views(): {view_line.strip()}",
            f"in start_actors(): {start_line.strip()}",
        ]
    if import_line not in lines:
        lines.insert(_import_position(lines, import_line), import_line)
    for marker, line in zip(_MARKERS, (view_line, start_line), strict=True):
        if line not in lines:
            lines.insert(lines.index(marker), line)
    new_text = "\n".join(lines) + "\n"
    if new_text != text:
        app.write_text(new_text, "utf-8")
        return [f"added /live/{name.text} to {project.package_dir}/app.py", "uv run just test"]
    return ["uv run just test"]


_LIVE_IMPORT = re.compile(r"from \.live\.(\w+) import ")


def _has_live_import(lines: list[str]) -> bool:
    return any(_LIVE_IMPORT.match(line) for line in lines)


def _import_position(lines: list[str], import_line: str) -> int:
    """Where `import_line` goes among the ``from .live.X import`` lines (sorted by X, as
    the project's import sorter wants)."""
    positions = [i for i, line in enumerate(lines) if _LIVE_IMPORT.match(line)]
    new = _module_key(import_line)
    for i in positions:
        if _module_key(lines[i]) > new:
            return i
    return positions[-1] + 1


def _module_key(line: str) -> tuple[str, str]:
    match = _LIVE_IMPORT.match(line)
    module = match.group(1) if match else ""
    return (_natural(module.lower()), _natural(module))


def sort_key(name: str) -> tuple[int, str, str]:
    """The order ruff's import sorter gives imported names (its defaults): constants,
    then classes, then the rest; each case-insensitively, digits by their value."""
    if len(name) > 1 and name.isupper():
        kind = 0
    elif name[:1].isupper():
        kind = 1
    else:
        kind = 2
    return (kind, _natural(name.lower()), _natural(name))


def _natural(text: str) -> str:
    return re.sub(r"\d+", lambda digits: digits.group().zfill(20), text)


def _imported(*names: str) -> str:
    """`names` as the lines of a parenthesized import, in the sorter's order."""
    return "\n".join(f"    {name}," for name in sorted(names, key=sort_key))
