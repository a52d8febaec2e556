"""`run_new(argv, cwd)`: ``lightflow`` in this process, in folder `cwd`, with its exit
code, its JSON output (when it succeeded) and its stderr."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

from lightflow_actors.adapters.cli import main


def run_new(argv: list[str], cwd: Path) -> tuple[int, Any, str]:
    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        os.chdir(before)
    value = json.loads(out.getvalue()) if code == 0 else None
    return code, value, err.getvalue()
