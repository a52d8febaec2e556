"""`just test` runs every drill of `scripts/fault_suite.py` against a real `lightflow serve`.

Each drill does harm (hostile bodies and frames, a poisoned `/ctx` inbox and a restart, a
full disk, a file-descriptor limit, `kill -9` mid-run) and then checks that `/ready` comes
back to 200, a good run succeeds, and nothing is lost, duplicated or torn.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fault_suite.py"


def load_suite() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fault_suite", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fault_suite"] = module
    spec.loader.exec_module(module)
    return module


SUITE = load_suite()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("drill", list(SUITE.DRILLS))
def test_drill(drill: str, tmp_path: Path) -> None:
    try:
        SUITE.run_drill(drill, tmp_path)
    except SUITE.Skip as exc:
        pytest.skip(str(exc))


def test_the_script_names_an_unknown_drill() -> None:
    with pytest.raises(SystemExit) as exited:
        SUITE.main(["no-such-drill"])
    assert exited.value.code == 2
