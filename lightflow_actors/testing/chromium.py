"""How the tests and the benchmarks start Chromium: Debian's binary and one argument list.

::

    from lightflow_actors.testing.chromium import CHROMIUM, CHROMIUM_ARGS
    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

Headless, no sandbox (containers), no GPU, no QUIC (the servers under test speak TCP), and
none of the background traffic a fresh profile starts (first-run pages, component
updates, sync): a measured or asserted page does only what the test makes it do. Driven
by the ``playwright`` package; never ``playwright install``.
"""

from __future__ import annotations

from typing import Final

CHROMIUM: Final = "/usr/bin/chromium"
"""Debian's Chromium (``apt-get install chromium``)."""

CHROMIUM_ARGS: Final[tuple[str, ...]] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""The command line every test and benchmark gives it."""
