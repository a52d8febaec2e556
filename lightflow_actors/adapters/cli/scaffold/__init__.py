"""The generators behind ``lightflow new``: a project, a live view, workflow assets.

Each kind is planned as a list of files (`Planned`) from templates kept as package
data (``templates/``, `string.Template`, ADR 0103), then written by `write_planned`,
which creates what is missing, leaves identical files alone, and refuses to overwrite
a user's edits without ``force``. Names and field specs are checked once, here
(`check_name`, `parse_fields`), with errors that say what to type instead.
"""

from ._assets import AssetKindName, plan_asset
from ._auth import plan_auth, register_auth
from ._errors import GeneratorConflict, GeneratorError, GeneratorInputError
from ._files import Planned, Written, write_planned
from ._html import plan_html, register_html
from ._json import plan_json, register_json
from ._live import plan_live, register_live
from ._migration import plan_migration
from ._names import FIELD_TYPES, FieldSpec, Name, check_name, parse_fields, singular
from ._project import plan_project
from ._target import Project, find_project

__all__ = [
    "FIELD_TYPES",
    "AssetKindName",
    "FieldSpec",
    "GeneratorConflict",
    "GeneratorError",
    "GeneratorInputError",
    "Name",
    "Planned",
    "Project",
    "Written",
    "check_name",
    "find_project",
    "parse_fields",
    "plan_asset",
    "plan_auth",
    "plan_html",
    "plan_json",
    "plan_live",
    "plan_migration",
    "plan_project",
    "register_auth",
    "register_html",
    "register_json",
    "register_live",
    "singular",
    "write_planned",
]
