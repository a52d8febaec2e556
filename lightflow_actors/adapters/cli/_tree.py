"""``lightflow tree``: print a running server's supervision tree in the terminal (rich).

Reads ``GET /system/tree`` page by page. ``--json`` prints the flat node list as JSON
instead (one line), for scripts.
"""

from __future__ import annotations

import argparse
import sys

import httpx
import msgspec
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from ..operator_api import DEFAULT_HOST, DEFAULT_PORT, ErrorBody, TreeNode, TreePage
from ._errors import CliError
from ._group import print_json
from ._parser import StrictParser, non_empty

DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
_STATUS_STYLE = {
    "idle": "green",
    "busy": "yellow",
    "starting": "blue",
    "stopping": "magenta",
    "exited": "red",
}


def configure(parser: StrictParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, type=non_empty, help="server base URL")
    parser.add_argument("--root", type=int, help="show only this actor's subtree")
    parser.add_argument("--json", action="store_true", help="print the nodes as JSON")
    parser.set_defaults(handler=run)


def fetch_tree(url: str, root: int | None = None, *, timeout: float = 10.0) -> list[TreeNode]:
    """Every node of the tree at ``url`` (following ``next_cursor``)."""
    nodes: list[TreeNode] = []
    cursor = 0
    base = url.rstrip("/")
    try:
        with httpx.Client(timeout=timeout) as client:
            while True:
                params: dict[str, int] = {"limit": 10_000, "cursor": cursor}
                if root is not None:
                    params["root"] = root
                response = client.get(f"{base}/system/tree", params=params)
                if response.status_code != 200:
                    raise CliError(f"lightflow tree: {url}: {_error_text(response)}")
                page = msgspec.json.decode(response.content, type=TreePage)
                nodes.extend(page.nodes)
                if page.next_cursor is None:
                    return nodes
                cursor = page.next_cursor
    except httpx.HTTPError as exc:
        raise CliError(
            f"lightflow tree: cannot reach {url} ({exc}); is `lightflow serve` running?"
        ) from None
    except msgspec.DecodeError as exc:
        raise CliError(f"lightflow tree: {url} did not answer with a tree: {exc}") from None


def _error_text(response: httpx.Response) -> str:
    try:
        error = msgspec.json.decode(response.content, type=ErrorBody).error
        return f"HTTP {response.status_code}: {error}"
    except (msgspec.DecodeError, msgspec.ValidationError):
        return f"HTTP {response.status_code}"


def render(nodes: list[TreeNode], title: str) -> Tree:
    """The nodes as a rich ``Tree`` (parents before children, as the API orders them)."""
    tree = Tree(escape(title))
    branches: dict[int, Tree] = {}
    for node in nodes:
        holder = branches.get(node.parent) if node.parent is not None else None
        branches[node.id] = (holder if holder is not None else tree).add(_label(node))
    return tree


def _label(node: TreeNode) -> str:
    name = node.name or node.child_id or node.actor_class
    style = _STATUS_STYLE.get(node.status, "white")
    text = (
        f"[bold]{escape(name)}[/bold] [dim]{escape(node.actor_class)} #{node.id}"
        + (f" {node.strategy}" if node.strategy else "")
        + f"[/dim] [{style}]{node.status}[/{style}]"
        + f" [dim]mailbox {node.mailbox} · processed {node.processed}"
        + f" · restarts {node.restarts}[/dim]"
    )
    if node.last_crash:
        text += f" [red]{escape(node.last_crash)}[/red]"
    return text


def run(args: argparse.Namespace) -> int:
    nodes = fetch_tree(args.url, args.root)
    if args.json:
        print_json(nodes)
        return 0
    console = Console(file=sys.stdout, highlight=False)
    console.print(render(nodes, f"{args.url} · {len(nodes)} actors"))
    return 0
