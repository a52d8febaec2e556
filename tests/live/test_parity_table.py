"""specs/live-parity.md cannot rot: every test it cites exists, every "has" row cites
one, every row is has/partial/missing, and a partial or missing row says what is
missing."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "specs" / "live-parity.md"
CITED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
STATUSES = ("has", "partial", "missing")


def rows() -> list[list[str]]:
    """The feature rows of every table (header and rule rows left out)."""
    found: list[list[str]] = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["Feature (Phoenix)", "Status"]:
            continue
        found.append(cells)
    return found


@cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    )


def test_the_table_has_rows_of_four_cells_with_a_known_status() -> None:
    table = rows()
    assert len(table) >= 80  # every feature the issue names
    for cells in table:
        assert len(cells) == 4, cells
        assert cells[1] in STATUSES, cells


def test_each_has_row_cites_a_test_and_each_other_row_says_what_is_missing() -> None:
    for feature, status, proof, note in rows():
        if status == "has":
            assert CITED.search(proof), f"{feature}: a 'has' row cites no test"
        else:
            assert note, f"{feature}: a {status} row must say what is missing"


@pytest.mark.parametrize(
    ("path", "name"),
    sorted(set(CITED.findall(TABLE.read_text(encoding="utf-8")))),
    ids=lambda value: str(value),
)
def test_every_cited_test_exists(path: str, name: str) -> None:
    assert (ROOT / path).is_file(), f"{path} does not exist"
    assert name in defined_tests(path), f"{path} has no test named {name}"


def test_a_missing_test_would_be_caught() -> None:
    assert "test_no_such_test" not in defined_tests("tests/live/test_streams.py")
    assert CITED.findall("`tests/live/test_streams.py::test_x`") == [
        ("tests/live/test_streams.py", "test_x")
    ]
