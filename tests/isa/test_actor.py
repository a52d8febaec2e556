"""``exit_reason_of``: the exit reason an interpreting actor stops with after a Shutdown.

The actors themselves are tested where they live: ``tests/live`` (``LiveSession``) and
``tests/flow/test_run_vectors.py`` (``RunActor`` against the pure interpreter).
"""

from __future__ import annotations

import pytest

from lightflow_actors.isa import ShutdownReason, exit_reason_of
from lightflow_actors.kernel import is_normal_exit


@pytest.mark.parametrize(
    ("reason", "exit_reason"),
    [
        ("normal", "normal"),
        ("shutdown", "shutdown"),
        ("cancelled", ("shutdown", "cancelled")),
        ("timeout", ("shutdown", "timeout")),
        ("error", ("shutdown", "error")),
    ],
)
def test_shutdown_reasons_become_orderly_exit_reasons(
    reason: ShutdownReason, exit_reason: object
) -> None:
    assert exit_reason_of(reason) == exit_reason
    assert is_normal_exit(exit_reason_of(reason))  # a transient child is not restarted
