"""Live-session tests: the examples package and this folder's helpers importable.

Tests run in importlib mode, which puts no test folder on sys.path: the checkout root
goes there for ``examples.live``, this folder for ``live_shapes`` and ``live_server``
(names unique to this area, so nothing else shadows them).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE.parents[1], HERE):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
