"""Make the shared hypothesis strategies of this folder importable as ``isa_strategies``.

Tests run in importlib mode, which does not put test folders on sys.path; the
module name is unique to this area so nothing else can shadow it.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
