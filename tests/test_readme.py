"""The README's Python examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_opens_with_the_two_setup_commands() -> None:
    commands = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert commands[0].strip() == "python3 -m pip install uv && uv run --frozen lightflow serve"
    assert commands[1].strip() == "python3 -m pip install uv && uv run --frozen just test"
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1].strip() in ci


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(source: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(source)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_readme_python_blocks_type_check(tmp_path: Path) -> None:
    paths = []
    for i, source in enumerate(BLOCKS):
        path = tmp_path / f"readme_block{i}.py"
        path.write_text(source)
        paths.append(str(path))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *paths],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=README.parent,
    )
    assert result.returncode == 0, result.stdout
