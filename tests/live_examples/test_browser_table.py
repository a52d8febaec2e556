"""Real browser: the example 1 000-row table is styled so that a re-sort stays cheap.

A re-sort moves most rows, and Chromium styles and lays out each moved table row again;
the example's `TABLE_CSS` makes its rows grid boxes with ``content-visibility: auto``
(ADR 0131), so rows off screen are neither styled nor laid out. These tests hold what a
user must not lose to that CSS: the header's columns line up with the rows', the page is
still a table to assistive technology, and a sort by price shows the rows in that order.
"""

from __future__ import annotations

from .test_browser import app, open_page, pytestmark  # noqa: F401

# Per column: the header cell's and the first row's cell's left edge; whether the cells
# of the first and the last row are rendered (checkVisibility is false for content a
# content-visibility: auto element skips).
LAYOUT = """() => {
  const left = (cells) => [...cells].map((c) => Math.round(c.getBoundingClientRect().left));
  const rows = document.querySelectorAll("tbody tr");
  const first = rows[0], last = rows[rows.length - 1];
  return {
    header: left(document.querySelectorAll("thead th")),
    first: left(first.children),
    count: rows.length,
    style: [getComputedStyle(first).display, getComputedStyle(first).contentVisibility],
    firstShown: first.firstElementChild.checkVisibility({contentVisibilityAuto: true}),
    lastShown: last.firstElementChild.checkVisibility({contentVisibilityAuto: true}),
  };
}"""

# True when the rows on the page are in the order of a sort by price (highest first,
# then by id), as the view sorts them.
SORTED_BY_PRICE = """() => {
  const rows = [...document.querySelectorAll("tbody tr")].map(
    (tr) => [Number(tr.children[2].textContent), Number(tr.children[0].textContent)]);
  return rows.length === 1000 && rows.every((r, i) => i === 0 ||
    rows[i - 1][0] > r[0] || (rows[i - 1][0] === r[0] && rows[i - 1][1] < r[1]));
}"""


async def test_rows_off_screen_are_skipped_and_columns_line_up() -> None:
    async with app() as (base, _, _, browser):
        page = await open_page(browser, f"{base}/table")
        layout = await page.evaluate(LAYOUT)
        assert layout["count"] == 1000
        assert layout["style"] == ["grid", "auto"]
        assert layout["firstShown"] is True
        assert layout["lastShown"] is False  # 999 rows down: not rendered until scrolled to
        assert layout["header"] == layout["first"]
        # Scrolled into view, the last row is rendered, in the same columns.
        await page.evaluate("document.querySelector('tbody tr:last-child').scrollIntoView()")
        await page.wait_for_function(
            "document.querySelector('tbody tr:last-child td')"
            ".checkVisibility({contentVisibilityAuto: true})"
        )
        last = await page.evaluate(
            "[...document.querySelector('tbody tr:last-child').children]"
            ".map((c) => Math.round(c.getBoundingClientRect().left))"
        )
        assert last == layout["header"]


async def test_the_table_keeps_its_roles_and_a_sort_shows_its_order() -> None:
    async with app() as (base, _, _, browser):
        page = await open_page(browser, f"{base}/table")
        cdp = await page.context.new_cdp_session(page)
        nodes = (await cdp.send("Accessibility.getFullAXTree"))["nodes"]
        roles = {n["role"]["value"] for n in nodes if not n.get("ignored")}
        assert {"table", "row", "columnheader", "cell"} <= roles
        await page.click("#sort-price")
        # The ticker keeps changing prices; every render sorts them again.
        await page.wait_for_function(SORTED_BY_PRICE)
