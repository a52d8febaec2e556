"""``lightflow new project|live|json|html|auth|migration|workflow|node|provider``: generate code
that passes its own checks at once (ruff, mypy --strict, its tests).

``new project NAME`` makes the folder NAME (under ``--dir``, default here);
``--runtime-path PATH`` makes its lightflow-actors dependency that checkout (offline
work, tests). The other kinds write into the project in ``--dir`` (default here).
Output is JSON: what was created, left unchanged, overwritten or kept, and the commands
to run next. A file that exists with other contents is never overwritten without
``--force`` (exit 1, nothing written); a bad name or field spec exits 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ._errors import CliError, UsageError
from ._group import print_json
from ._parser import StrictParser
from .scaffold import (
    FIELD_TYPES,
    GeneratorConflict,
    GeneratorInputError,
    Name,
    Planned,
    Project,
    Written,
    check_name,
    find_project,
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


def configure(parser: StrictParser) -> None:
    verb = parser.add_verbs("new_verb")
    project = verb("project", "a uv project embedding the runtime: app, tests, justfile, CI")
    project.add_argument("name", help="the project's name, e.g. shop (also its package)")
    project.add_argument("--dir", default=".", help="the folder to make it in (default: here)")
    project.add_argument(
        "--runtime-path", help="depend on the lightflow-actors checkout at PATH (offline)"
    )
    project.add_argument("--force", action="store_true", help="overwrite files that differ")
    project.set_defaults(handler=_project)
    live = verb("live", "a CRUD live view over a typed struct, with DSL and Chromium tests")
    live.add_argument("name", help="the view's name (plural), e.g. products")
    live.add_argument(
        "fields",
        nargs="*",
        metavar="FIELD:TYPE",
        help=f"e.g. name:str price:float; types: {', '.join(FIELD_TYPES)} ('?': optional)",
    )
    live.add_argument("--singular", help="the record's name (default: from NAME)")
    _project_options(live)
    live.set_defaults(handler=_live)
    json_api = verb("json", "typed JSON CRUD routes over a struct, with paging and tests")
    json_api.add_argument("name", help="the resource's name (plural), e.g. products")
    _field_options(json_api)
    json_api.set_defaults(handler=_json)
    html = verb("html", "server-rendered CRUD pages over a struct: forms, errors, CSRF")
    html.add_argument("name", help="the resource's name (plural), e.g. products")
    _field_options(html)
    html.set_defaults(handler=_html)
    auth = verb("auth", "register, log in, log out: hashed passwords, a signed cookie session")
    _project_options(auth)
    auth.set_defaults(handler=_auth)
    migration = verb(
        "migration", "the next version of a store's records: a typed step and its test"
    )
    migration.add_argument("name", help="what the step does, e.g. add-currency")
    migration.add_argument(
        "--store", required=True, help="the store (a json or html resource's name), e.g. products"
    )
    _project_options(migration)
    migration.set_defaults(handler=_migration)
    for kind, summary in (
        ("workflow", "a workflow asset (one step on thread NAME), its provider and a test"),
        ("node", "a node asset (a reusable step), its provider and a test"),
        ("provider", "a @provider function answering thread NAME, and a test"),
    ):
        asset = verb(kind, summary)
        asset.add_argument("name", help="the asset's id, e.g. summarize")
        _project_options(asset)
        asset.set_defaults(handler=_asset, kind=kind)


def _field_options(parser: StrictParser) -> None:
    parser.add_argument(
        "fields",
        nargs="*",
        metavar="FIELD:TYPE",
        help=f"e.g. name:str price:float; types: {', '.join(FIELD_TYPES)} ('?': optional)",
    )
    parser.add_argument("--singular", help="the record's name (default: from NAME)")
    _project_options(parser)


def _project_options(parser: StrictParser) -> None:
    parser.add_argument("--dir", default=".", help="the project folder (default: here)")
    parser.add_argument("--force", action="store_true", help="overwrite files that differ")


def _project(args: argparse.Namespace) -> int:
    def run() -> Written:
        name = check_name(args.name, "the project name")
        root = _folder(args.dir, "--dir") / name.text
        runtime = _folder(args.runtime_path, "--runtime-path") if args.runtime_path else None
        if runtime is not None and not (runtime / "pyproject.toml").is_file():
            raise GeneratorInputError(
                f"--runtime-path {args.runtime_path!r} has no pyproject.toml: give the folder "
                "of a lightflow-actors checkout"
            )
        written = write_planned(root, plan_project(name, root, runtime), force=args.force)
        written.next.extend([f"cd {root}", "uv sync", "uv run just test", "uv run just serve"])
        return written

    return _done("project", run)


def _live(args: argparse.Namespace) -> int:
    def run() -> Written:
        project = find_project(_folder(args.dir, "--dir"))
        name = check_name(args.name, "the view name")
        fields = parse_fields(args.fields)
        record = check_name(args.singular, "--singular") if args.singular else None
        planned = plan_live(name, fields, project, record=record)
        written = write_planned(project.root, planned, force=args.force)
        written.next.extend(register_live(name, project, record=record))
        return written

    return _done("live", run)


def _auth(args: argparse.Namespace) -> int:
    def run() -> Written:
        project = find_project(_folder(args.dir, "--dir"))
        written = write_planned(project.root, plan_auth(project), force=args.force)
        written.next.extend(register_auth(project))
        return written

    return _done("auth", run)


def _migration(args: argparse.Namespace) -> int:
    def run() -> Written:
        project = find_project(_folder(args.dir, "--dir"))
        name = check_name(args.name, "the migration name")
        store = check_name(args.store, "--store")
        written = write_planned(
            project.root, plan_migration(name, store, project), force=args.force
        )
        written.next.append("uv run just test")
        return written

    return _done("migration", run)


def _json(args: argparse.Namespace) -> int:
    return _resource(args, "json", plan_json, register_json)


def _html(args: argparse.Namespace) -> int:
    return _resource(args, "html", plan_html, register_html)


def _resource(
    args: argparse.Namespace,
    kind: str,
    plan: Callable[..., list[Planned]],
    register: Callable[[Name, Project], list[str]],
) -> int:
    def run() -> Written:
        project = find_project(_folder(args.dir, "--dir"))
        name = check_name(args.name, "the resource name")
        fields = parse_fields(args.fields, command=kind)
        record = check_name(args.singular, "--singular") if args.singular else None
        planned = plan(name, fields, project, record=record)
        written = write_planned(project.root, planned, force=args.force)
        written.next.extend(register(name, project))
        return written

    return _done(kind, run)


def _asset(args: argparse.Namespace) -> int:
    def run() -> Written:
        project = find_project(_folder(args.dir, "--dir"))
        name = check_name(args.name, f"the {args.kind} name")
        written = write_planned(
            project.root, plan_asset(args.kind, name, project), force=args.force
        )
        written.next.append("uv run pytest -q tests")
        return written

    return _done(args.kind, run)


def _folder(text: str, option: str) -> Path:
    """`text` as a folder path; one that cannot be written as UTF-8 (undecodable bytes
    from the command line) is refused here rather than half-way through writing."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise GeneratorInputError(f"{option} {text!a} is not valid UTF-8") from None
    return Path(text)


def _done(what: str, run: Callable[[], Written]) -> int:
    try:
        written = run()
    except GeneratorInputError as exc:
        raise UsageError(f"lightflow new {what}: {exc}") from None
    except GeneratorConflict as exc:
        raise CliError(f"lightflow new {what}: {exc}") from None
    except OSError as exc:
        raise CliError(f"lightflow new {what}: {exc}") from None
    print_json(written)
    return 0
