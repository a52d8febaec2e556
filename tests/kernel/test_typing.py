"""Static typing: mypy rejects a tell of a message the actor does not accept."""

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


def test_mypy_rejects_a_message_outside_the_actor_type(tmp_path: Path) -> None:
    source = textwrap.dedent(SNIPPET)
    path = tmp_path / "snippet.py"
    path.write_text(source)
    rejected_line = source.splitlines().index("    ref.tell(Other())  # LINE-REJECTED") + 1
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, result.stdout
    assert f'snippet.py:{rejected_line}: error: Argument 1 to "tell"' in errors[0]
    assert '"Other"' in errors[0]
