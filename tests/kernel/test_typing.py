"""Static typing: mypy rejects a tell of a message the actor does not accept, a deferred
reply of the wrong type, and a refusal reason outside the closed set (one mypy run checks
every snippet, each in its own module)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

SNIPPET = """
import msgspec
from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, handler

class Inc(msgspec.Struct, frozen=True):
    by: int

class Get(Ask[int], frozen=True):
    pass

class Other(msgspec.Struct, frozen=True):
    pass

class Counter(Actor[Inc | Get]):
    @handler
    def inc(self, msg: Inc) -> None: ...
    @handler
    def get(self, msg: Get) -> int:
        return 0

async def main(system: ActorSystem) -> None:
    ref: ActorRef[Inc | Get] = system.spawn(Counter)
    ref.tell(Inc(by=1))
    value: int = await ref.ask(Get())
    narrow: ActorRef[Inc] = ref  # a ref accepting more stands in for one accepting less
    narrow.tell(Inc(by=value))
    ref.tell(Other())  # LINE-REJECTED
"""


REPLY_SNIPPET = """
from lightflow_actors import Actor, Ask, Refused, Reply, handler

class Get(Ask[int], frozen=True):
    pass

class RunNotFound(Refused):
    reason = "not_found"

class Typo(Refused):
    reason = "notfound"  # LINE-REJECTED

class Desk(Actor[Get]):
    def __init__(self) -> None:
        self.held: list[Reply[int]] = []

    @handler
    def get(self, msg: Get) -> None:
        reply = self.defer(msg)
        self.held.append(reply)
        reply.send(1)
        reply.refuse(RunNotFound("run 'x' not found"))
        reply.send("one")  # LINE-REJECTED
"""


SNIPPETS = {"tell": SNIPPET, "reply": REPLY_SNIPPET}


class Checked(NamedTuple):
    """mypy --strict's errors on one snippet, and the lines marked ``# LINE-REJECTED``."""

    errors: list[str]
    marked: list[int]


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Checked]:
    """Every snippet checked by one mypy run (mypy's start and its analysis of the
    package are most of the cost), each snippet in its own module."""
    folder = tmp_path_factory.mktemp("typing")
    marked: dict[str, list[int]] = {}
    for name, snippet in SNIPPETS.items():
        source = textwrap.dedent(snippet)
        (folder / f"snippet_{name}.py").write_text(source)
        marked[name] = [
            n for n, line in enumerate(source.splitlines(), 1) if "# LINE-REJECTED" in line
        ]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental"]
        + [str(folder / f"snippet_{name}.py") for name in SNIPPETS],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert all(f"snippet_{name}.py:" in " ".join(errors) for name in SNIPPETS), result.stdout
    return {
        name: Checked([e for e in errors if f"snippet_{name}.py:" in e], marked[name])
        for name in SNIPPETS
    }


def test_mypy_rejects_a_message_outside_the_actor_type(checked: dict[str, Checked]) -> None:
    errors, (rejected_line,) = checked["tell"]
    assert len(errors) == 1, errors
    assert f'snippet_tell.py:{rejected_line}: error: Argument 1 to "tell"' in errors[0]
    assert '"Other"' in errors[0]


def test_mypy_rejects_a_reply_of_the_wrong_type_and_an_unknown_refusal_reason(
    checked: dict[str, Checked],
) -> None:
    errors, (typo_line, send_line) = checked["reply"]
    assert len(errors) == 2, errors
    assert f"snippet_reply.py:{typo_line}: error: Incompatible types in assignment" in errors[0]
    assert "Literal['notfound']" in errors[0]
    assert (
        f'snippet_reply.py:{send_line}: error: Argument 1 to "send" of "Reply" has '
        'incompatible type "str"; expected "int"'
    ) in errors[1]
