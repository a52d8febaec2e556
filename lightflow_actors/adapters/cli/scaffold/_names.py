"""Names a generator accepts: project names, asset names and ``field:type`` specs.

Every name a generator takes ends up as a folder, a file, a Python identifier and a
URL segment, so one rule serves all: lower-case ASCII letters and digits in words
joined by ``-`` or ``_`` (``shop``, ``order-lines``), at most 40 characters, never a
Python keyword nor the name of a standard-library or runtime module once ``-`` becomes
``_``. That refuses path traversal (``../x``), separators, unicode look-alikes and
anything a shell or file system would treat specially, with a message naming the fix.
"""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass
from typing import Final, Literal

from ._errors import GeneratorInputError

MAX_NAME: Final = 40
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
_FIELD = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# Modules a generated project imports (or that its tests need): shadowing one breaks it.
_TAKEN: Final = frozenset(
    {
        "lightflow",
        "lightflow_actors",
        "ctx_substrate",
        "msgspec",
        "anyio",
        "starlette",
        "hypercorn",
        "platformdirs",
        "pytest",
        "hypothesis",
        "playwright",
        "tests",
        "conftest",
        "app",
        "assets",
    }
)
# Field names the generated code uses for itself.
_RESERVED_FIELDS: Final = frozenset({"id", "params", "form", "state", "self", "myself", "heading"})

FieldType = Literal["str", "text", "int", "float", "bool", "date"]
FIELD_TYPES: Final[tuple[FieldType, ...]] = ("str", "text", "int", "float", "bool", "date")


@dataclass(frozen=True)
class Name:
    """A checked name in its spellings: ``order-lines`` is `text`; `module`
    ``order_lines``; `camel` ``OrderLines``; `title` ``Order lines``."""

    text: str

    @property
    def module(self) -> str:
        return self.text.replace("-", "_")

    @property
    def camel(self) -> str:
        return "".join(part.capitalize() for part in re.split(r"[-_]", self.text))

    @property
    def title(self) -> str:
        return re.sub(r"[-_]", " ", self.text).capitalize()


_AMBIGUOUS = frozenset({"l"})
"""Lower-case names ruff refuses as variables (E741: ``l``; ``I`` and ``O`` are not
lower-case, so no generator accepts them anyway)."""


def check_name(text: str, what: str) -> Name:
    """`text` as a `Name`, or `GeneratorInputError` saying what is wrong and what to do."""
    shown = ascii(text)
    if not text:
        raise GeneratorInputError(f"{what} is empty; give a name such as 'shop'")
    if len(text) > MAX_NAME:
        raise GeneratorInputError(f"{what} {shown} is longer than {MAX_NAME} characters")
    if not _NAME.fullmatch(text):
        raise GeneratorInputError(
            f"{what} {shown} is not a plain name: use lower-case ASCII letters and digits "
            "in words joined by '-' or '_', starting with a letter (e.g. 'order-lines'); "
            "no paths, dots, spaces or other characters"
        )
    name = Name(text)
    if keyword.iskeyword(name.module) or keyword.issoftkeyword(name.module):
        raise GeneratorInputError(
            f"{what} {shown} is a Python keyword; choose another, e.g. '{text}s'"
        )
    if name.module in _AMBIGUOUS:
        raise GeneratorInputError(
            f"{what} {shown} reads as the digit 1 in code (ruff E741 refuses it as a "
            f"variable); choose another, e.g. '{text}ist'"
        )
    if name.module in sys.stdlib_module_names or name.module in _TAKEN:
        raise GeneratorInputError(
            f"{what} {shown} would shadow the module {name.module!r} that the project "
            f"imports; choose another, e.g. 'my-{text}'"
        )
    return name


@dataclass(frozen=True)
class FieldSpec:
    """One ``name:type`` of ``lightflow new live``; a ``?`` after the type makes the
    field optional (``age:int?``)."""

    name: str
    type: FieldType
    optional: bool = False

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()


def parse_fields(specs: list[str], *, command: str = "live") -> tuple[FieldSpec, ...]:
    """Parse ``["name:str", "price:float", "age:int?"]``; refuse bad or duplicate names
    and unknown types, naming the spec and its position."""
    fields: list[FieldSpec] = []
    seen: set[str] = set()
    for position, spec in enumerate(specs, 1):
        where = f"field {position} ({spec!a})"
        name, colon, type_text = spec.partition(":")
        if not colon:
            raise GeneratorInputError(f"{where} has no type: write NAME:TYPE, e.g. 'price:float'")
        optional = type_text.endswith("?")
        type_name = type_text.removesuffix("?")
        if type_name not in FIELD_TYPES:
            raise GeneratorInputError(
                f"{where} has the unknown type {type_name!a}; "
                f"use one of {', '.join(FIELD_TYPES)} (add '?' for an optional field)"
            )
        if not name or len(name) > MAX_NAME or not _FIELD.fullmatch(name):
            raise GeneratorInputError(
                f"{where}: the name {name!a} is not a Python field name: use lower-case "
                f"ASCII letters, digits and '_' (at most {MAX_NAME}), starting with a letter"
            )
        if keyword.iskeyword(name) or keyword.issoftkeyword(name):
            raise GeneratorInputError(f"{where}: {name!r} is a Python keyword; e.g. '{name}_'")
        if name in _AMBIGUOUS:
            raise GeneratorInputError(
                f"{where}: {name!r} reads as the digit 1 in code (ruff E741 refuses it as a "
                f"variable); e.g. '{name}_'"
            )
        if name in _RESERVED_FIELDS:
            raise GeneratorInputError(
                f"{where}: {name!r} is used by the generated code itself; choose another "
                f"name (e.g. '{name}_')"
            )
        if name in seen:
            raise GeneratorInputError(f"{where}: the field {name!r} is given twice")
        seen.add(name)
        fields.append(FieldSpec(name, type_name, optional))
    if not fields:
        raise GeneratorInputError(
            f"give at least one field, e.g. 'lightflow new {command} products name:str price:float'"
        )
    return tuple(fields)


def singular(name: Name) -> Name:
    """A record's name from a plural view name: ``products`` -> ``product``,
    ``categories`` -> ``category``; a name that does not look plural gets ``-item``."""
    text = name.text
    if text.endswith("ies") and len(text) > 4:
        return Name(text[:-3] + "y")
    if re.search(r"(ss|sh|ch|x|z)es$", text):
        return Name(text[:-2])
    if text.endswith("s") and not text.endswith("ss") and len(text) > 2:
        return Name(text[:-1])
    return Name(text + "-item")
