"""Fixtures for live-session tests: the examples package importable, a browser if present."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    # examples/ is not an installed package; the tests import it from the checkout.
    sys.path.insert(0, str(ROOT))
