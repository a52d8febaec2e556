"""Static typing: mypy rejects a tell of a message the actor does not accept, a deferred
reply of the wrong type, and a refusal reason outside the closed set."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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


def mypy_errors(tmp_path: Path, snippet: str) -> tuple[list[str], list[int]]:
    """mypy --strict's errors on ``snippet``, and the lines marked ``# LINE-REJECTED``."""
    source = textwrap.dedent(snippet)
    path = tmp_path / "snippet.py"
    path.write_text(source)
    marked = [n for n, line in enumerate(source.splitlines(), 1) if "# LINE-REJECTED" in line]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return [line for line in result.stdout.splitlines() if ": error:" in line], marked


def test_mypy_rejects_a_message_outside_the_actor_type(tmp_path: Path) -> None:
    errors, (rejected_line,) = mypy_errors(tmp_path, SNIPPET)
    assert len(errors) == 1, errors
    assert f'snippet.py:{rejected_line}: error: Argument 1 to "tell"' in errors[0]
    assert '"Other"' in errors[0]


def test_mypy_rejects_a_reply_of_the_wrong_type_and_an_unknown_refusal_reason(
    tmp_path: Path,
) -> None:
    errors, (typo_line, send_line) = mypy_errors(tmp_path, REPLY_SNIPPET)
    assert len(errors) == 2, errors
    assert f"snippet.py:{typo_line}: error: Incompatible types in assignment" in errors[0]
    assert "Literal['notfound']" in errors[0]
    assert (
        f'snippet.py:{send_line}: error: Argument 1 to "send" of "Reply" has incompatible '
        'type "str"; expected "int"'
    ) in errors[1]
