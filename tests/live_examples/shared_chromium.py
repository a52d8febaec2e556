"""One Playwright driver and one headless Chromium for a browser test module, not one per test.

Starting the driver (a Node process) and Chromium cost about a second of CPU each time; the
browser tests started both in every test. The ``shared_chromium`` fixture (conftest.py,
module-scoped, requested through ``test_browser.pytestmark``) starts them once on the
module's event loop, and ``async_playwright()`` here hands a test that loop's driver:
``pw.chromium.launch(...)`` with the tests' own executable and arguments returns a
``TestBrowser`` on the shared Chromium. A test still gets what a fresh browser gave it:
each page lives in a new browser context (its own cookies, storage and cache), and
``browser.close()`` closes every context the test made, leaving the browser to the next.

Outside such a module (no shared driver on the running loop), or for a launch with other
arguments, ``async_playwright()`` is Playwright's own and ``launch`` starts a real browser.

Tests written with Playwright's sync API (the observer's) share one the same way through
``sync_chromium()``: a module-scoped fixture holds it, each test opens its own context.
The executable and its arguments are `lightflow_actors.testing.chromium`'s, which the
benchmarks use too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from lightflow_actors.testing.chromium import CHROMIUM, CHROMIUM_ARGS

try:
    from playwright.async_api import Browser, BrowserContext, Error, Page, Playwright
    from playwright.async_api import async_playwright as playwright_async_playwright
    from playwright.sync_api import Browser as SyncBrowser
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - playwright is a dev dependency; the tests skip
    playwright_async_playwright = None  # type: ignore[assignment]

ARGS = list(CHROMIUM_ARGS)  # the tests' own arguments: a launch with these is shared


@dataclass
class _Shared:
    loop: asyncio.AbstractEventLoop
    playwright: Playwright
    browser: Browser


_shared: _Shared | None = None


@asynccontextmanager
async def shared_chromium() -> AsyncIterator[None]:
    """Start the driver and Chromium on this loop; tests on it share them until exit."""
    global _shared
    async with playwright_async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        _shared = _Shared(asyncio.get_running_loop(), pw, browser)
        try:
            yield
        finally:
            _shared = None
            await browser.close()


@contextmanager
def sync_chromium() -> Iterator[SyncBrowser]:
    """Playwright's sync driver and one Chromium, for a module of sync-API browser tests;
    each test makes its own context (``browser.new_context(...)``) and closes it."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class TestBrowser:
    """The shared Chromium as one test sees it: ``close()`` closes this test's contexts."""

    __test__ = False  # not a test class

    def __init__(self, browser: Browser) -> None:
        self._browser = browser
        self._contexts: list[BrowserContext] = []

    async def new_context(self, **options: Any) -> BrowserContext:
        context = await self._browser.new_context(**options)
        self._contexts.append(context)
        return context

    async def new_page(self, **options: Any) -> Page:
        page = await self._browser.new_page(**options)
        self._contexts.append(page.context)
        return page

    @property
    def contexts(self) -> list[BrowserContext]:
        return [c for c in self._browser.contexts if c in self._contexts]

    async def close(self) -> None:
        contexts, self._contexts = self._contexts, []
        for context in contexts:
            with contextlib.suppress(Error):  # already closed by the test
                await context.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


class _Chromium:
    def __init__(self, shared: _Shared) -> None:
        self._shared = shared

    async def launch(
        self, *, executable_path: str | None = None, args: Sequence[str] | None = None, **kw: Any
    ) -> Browser | TestBrowser:
        if executable_path == CHROMIUM and list(args or ()) == ARGS and not kw:
            return TestBrowser(self._shared.browser)
        return await self._shared.playwright.chromium.launch(
            executable_path=executable_path, args=args, **kw
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shared.playwright.chromium, name)


class _TestPlaywright:
    def __init__(self, shared: _Shared) -> None:
        self.chromium = _Chromium(shared)
        self._shared = shared

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shared.playwright, name)


@asynccontextmanager
async def _async_playwright() -> AsyncIterator[Any]:
    """The module's shared driver where one runs on this loop, else Playwright's own."""
    shared = _shared
    if shared is not None and shared.loop is asyncio.get_running_loop():
        yield _TestPlaywright(shared)
        return
    async with playwright_async_playwright() as pw:
        yield pw


# None without playwright: the browser tests' pytestmark skips them then.
async_playwright = None if playwright_async_playwright is None else _async_playwright
