"""Observer tests share the operator-app fixtures of the HTTP adapter's tests, and the
browser tests one Chromium per module (``chromium``, live_examples/shared_chromium.py)."""

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ..adapters.http.conftest import demo_process, live_server, operator
from ..live_examples.shared_chromium import sync_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser

__all__ = ["chromium", "demo_process", "live_server", "operator"]


@pytest.fixture(scope="module")
def chromium() -> Iterator["Browser"]:
    """One headless Chromium for the module's tests (each opens its own context)."""
    with sync_chromium() as browser:
        yield browser
