"""Live-session tests: this folder's helpers importable.

Tests run in importlib mode, which puts no test folder on sys.path: this folder goes
there for ``live_shapes`` and ``live_server`` (names unique to this area, so nothing else
shadows them). The example views are ``lightflow_actors.live_examples``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE,):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
