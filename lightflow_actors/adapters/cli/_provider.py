"""``lightflow provider add|list|test|remove``: point runs at a real model (specs/runs-http.md
§1.1).

``add KIND`` (``openai``, ``anthropic``, ``openai-compatible`` for llama.cpp, vLLM, ...)
writes the channel folder ``/ctx/chan/<name>/`` and the runs config entry and routes;
``--key-env`` names the environment variable holding the key (the key never enters a
file). ``list`` shows the providers in force and whether each channel is usable; ``test
NAME`` sends one real request; ``remove NAME`` takes a provider out of the config file (its
routes go back to the default provider) and deletes its channel folder. Output is JSON;
warnings go to stderr. ``list`` on a terminal prints a table instead (``--json`` keeps
JSON): a line per provider, then every ``@provider``/``@node`` asset that could not be
taken, located, as the JSON's ``problems``. Exit codes: 0 done, 1 the work failed (a
file cannot be written, the request failed), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeVar

from lightflow_actors.host import (
    ProviderInputError,
    ProviderListing,
    ProviderSetupError,
    add_provider,
    list_providers,
    remove_provider,
    test_provider,
)
from lightflow_actors.runs import RunsConfigError

from ._errors import CliError, UsageError
from ._group import print_json
from ._parser import StrictParser

T = TypeVar("T")
KINDS = ("openai", "anthropic", "openai-compatible")


def configure(parser: StrictParser) -> None:
    verb = parser.add_verbs("provider_verb")
    add = verb("add", "add an HTTP model provider: channel files, config entry, routes")
    add.add_argument("kind", choices=KINDS, help="the API the server speaks")
    add.add_argument("--base-url", required=True, help="e.g. https://api.openai.com/v1")
    add.add_argument("--key-env", help="the NAME of the variable holding the API key")
    add.add_argument("--model", default="", help="the default model name")
    add.add_argument("--name", help="the provider and channel name (default: KIND)")
    add.add_argument("--replace", action="store_true", help="replace a provider of that name")
    add.set_defaults(handler=_add)
    listing = verb("list", "the providers in force, their routes and channel state")
    listing.add_argument("--json", action="store_true", help="JSON even on a terminal")
    listing.set_defaults(handler=_list)
    test = verb("test", "send one real request through an HTTP provider")
    test.add_argument("name", help="the provider's name")
    test.add_argument("--prompt", default=None, help="the prompt to send")
    test.set_defaults(handler=_test)
    remove = verb("remove", "take a provider out of the runs config; its routes go back")
    remove.add_argument("name", help="the provider's name")
    remove.add_argument(
        "--keep-channel", action="store_true", help="keep its /ctx/chan/<name>/ folder"
    )
    remove.set_defaults(handler=_remove)


def _mapped(what: str, op: Callable[[], T]) -> T:
    try:
        return op()
    except ProviderInputError as exc:
        raise UsageError(f"lightflow provider {what}: {exc}") from None
    except (ProviderSetupError, RunsConfigError) as exc:
        raise CliError(f"lightflow provider {what}: {exc}") from None


def _add(args: argparse.Namespace) -> int:
    added = _mapped(
        "add",
        lambda: add_provider(
            args.kind,
            base_url=args.base_url,
            key_env=args.key_env,
            model=args.model,
            name=args.name,
            replace=args.replace,
        ),
    )
    print_json(added)
    for warning in added.warnings:
        print(f"lightflow provider add: warning: {warning}", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    listing = _mapped("list", list_providers)
    if args.json or not sys.stdout.isatty():
        print_json(listing)
    else:
        sys.stdout.write(listing_text(listing))
        sys.stdout.flush()
    return 0


def listing_text(listing: ProviderListing) -> str:
    """`provider list` for a person: a line per provider (name, kind, routes, and the
    channel's state or problem), then the asset providers that were not taken."""
    rows = [("NAME", "KIND", "ROUTES", "STATE")]
    for p in listing.providers:
        state = p.problem or p.status or ("" if p.channel is None else "ok")
        routes = " ".join(p.routes) or "-"
        rows.append((_one_line(p.name), p.kind, _one_line(routes), _one_line(state)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{n:<{widths[0]}}  {k:<{widths[1]}}  {r:<{widths[2]}}  {state}".rstrip()
        for n, k, r, state in rows
    ]
    lines.append(f"config: {_one_line(listing.config or '(none: the embedded defaults)')}")
    if listing.problems:
        lines.append(f"problems ({len(listing.problems)}; these were not taken):")
        lines += [f"  {_one_line(q.path)}:{q.line}: {_one_line(q.error)}" for q in listing.problems]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """A message on one line, without control characters (file names come from disk)."""
    return "".join(c if c.isprintable() else " " for c in text)


def _test(args: argparse.Namespace) -> int:
    if args.prompt is None:
        result = _mapped("test", lambda: test_provider(args.name))
    else:
        result = _mapped("test", lambda: test_provider(args.name, prompt=args.prompt))
    print_json(result)
    return 0


def _remove(args: argparse.Namespace) -> int:
    removed = _mapped("remove", lambda: remove_provider(args.name, keep_channel=args.keep_channel))
    print_json(removed)
    return 0
