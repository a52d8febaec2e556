"""The browser test modules share one Playwright driver and one Chromium (shared_chromium.py).

``anyio_backend`` is module-scoped here so that the module-scoped ``shared_chromium``
fixture and the module's tests run on one event loop; a module that does not request
``shared_chromium`` still gets a fresh loop per test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from . import shared_chromium as chromium


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def shared_chromium() -> AsyncIterator[None]:
    async with chromium.shared_chromium():
        yield
