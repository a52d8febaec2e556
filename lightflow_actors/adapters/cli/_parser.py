"""A strict ``argparse`` parser: every usage error is one line on stderr and exit code 2.

On top of argparse's own refusals (unknown flags, missing values, bad types, extra
arguments), a flag given twice is refused, and flags are never abbreviated: a script that
says ``--port 1 --port 2`` or ``--po 1`` is wrong, and we say so instead of guessing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import NoReturn

from ._errors import UsageError

_SEEN = "_lightflow_seen_flags"


def _mark_once(
    parser: argparse.ArgumentParser,
    namespace: argparse.Namespace,
    action: argparse.Action,
    option_string: str | None,
) -> None:
    seen: set[str] = namespace.__dict__.setdefault(_SEEN, set())
    if action.dest in seen:
        flag = "/".join(action.option_strings) or action.dest
        parser.error(f"{flag} is given more than once; give it once")
    seen.add(action.dest)
    del option_string


class _StoreOnce(argparse._StoreAction):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        _mark_once(parser, namespace, self, option_string)
        super().__call__(parser, namespace, values, option_string)


class _StoreTrueOnce(argparse._StoreTrueAction):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        _mark_once(parser, namespace, self, option_string)
        super().__call__(parser, namespace, values, option_string)


class StrictParser(argparse.ArgumentParser):
    """``ArgumentParser`` that raises ``UsageError`` and refuses repeated flags.

    Use ``add_argument`` as usual; options default to the refuse-duplicates actions
    (``action="store_true"`` included). Subparsers made from it are strict too.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._deferred: list[Callable[[StrictParser], None]] = []

    def configure_when_used(self, configure: Callable[[StrictParser], None]) -> None:
        """Run ``configure(self)`` the first time this parser parses or prints its help, not
        now: ``lightflow tree`` never imports what ``serve`` or ``run`` need."""
        self._deferred.append(configure)

    def _configure_deferred(self) -> None:
        deferred, self._deferred = self._deferred, []
        for configure in deferred:
            configure(self)

    def add_argument(self, *args: object, **kwargs: object) -> argparse.Action:
        is_option = any(isinstance(a, str) and a.startswith("-") for a in args)
        if is_option and "--help" not in args:
            action = kwargs.get("action", "store")
            if action == "store":
                kwargs["action"] = _StoreOnce
            elif action == "store_true":
                kwargs["action"] = _StoreTrueOnce
        return super().add_argument(*args, **kwargs)  # type: ignore[arg-type]

    def add_verbs(self, dest: str) -> Callable[[str, str], StrictParser]:
        """Required sub-verbs, the chosen one stored as ``args.<dest>``. Returns
        ``verb(name, summary)``, which adds one and gives back its strict parser."""
        verbs = self.add_subparsers(dest=dest, metavar="VERB", required=True)

        def verb(name: str, summary: str) -> StrictParser:
            sub = verbs.add_parser(name, help=summary, description=summary)
            assert isinstance(sub, StrictParser)  # subparsers take the parent's class
            return sub

        return verb

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._configure_deferred()
        # Refuse extras here, not at the top: a sub-verb names itself in the message.
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def format_help(self) -> str:
        self._configure_deferred()
        return super().format_help()

    def format_usage(self) -> str:
        self._configure_deferred()
        return super().format_usage()

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def positive_port(text: str) -> int:
    """``--port``: an integer 0..65535 (0 lets the system pick a free port)."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: expected 0..65535") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {value}: expected 0..65535")
    return value


def non_empty(text: str) -> str:
    """A value that must not be empty or blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text
