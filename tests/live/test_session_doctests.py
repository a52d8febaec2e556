"""The usage examples in the live-session modules' docstrings run and stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["_presence", "_pubsub"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"lightflow_actors.live.{module}"))
    assert result.attempted > 0
    assert result.failed == 0
