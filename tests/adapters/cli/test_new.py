"""`lightflow new`: the README's "Start from a generator" commands, as written, make a
project whose every kind of generated code passes ruff, `mypy --strict` and its own
tests at once (run with this environment's tools, offline), and whose app serves.

One project is generated for the module and checked once per tool: a project, a CRUD
live view, a JSON API, HTML pages, accounts (auth), a workflow, a node and a provider,
plus a live view, an API and pages at the longest names and every field type, so the
formatting of the generated lines holds at the limits.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .new_cli import run_new

REPO = Path(__file__).resolve().parents[3]
README = REPO / "README.md"
LONGEST = [
    "new",
    "live",
    "abcdefghij-klmnopqrs",  # 20 characters, the longest view name
    *(
        f"{kind}_{'x' * (19 - len(kind))}_{n}:{kind}{mark}"  # 24-character field names
        for n, mark in ((1, ""), (2, "?"))
        # text first: the row shows it, and its test values are the longest
        for kind in ("text", "str", "int", "float", "bool", "date")
    ),
    "--singular",
    "tuvwxyzabc-defghijkl",
]


def readme_commands() -> list[str]:
    section = README.read_text().split("## Start from a generator", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None, "the section has no sh block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project the README's commands make, plus the longest-names view."""
    parent = tmp_path_factory.mktemp("generated")
    cwd = REPO
    ran = []
    for command in readme_commands():
        # `..` of the checkout is the temporary folder here: the test writes nowhere else.
        command = command.replace("--dir ..", f"--dir {parent}").replace("cd ../", f"cd {parent}/")
        words = shlex.split(command)
        if words[0] == "cd":
            cwd = Path(words[1])
            continue
        if "lightflow" not in words:
            assert words[-2:] in (["just", "test"], ["just", "serve"]), command
            continue  # `just test` is each check below; `just serve` is test_the_app_serves
        code, written, err = run_new(words[words.index("lightflow") + 1 :], cwd)
        assert code == 0, f"{command}: {err}"
        assert written["created"], command
        ran.append(words[words.index("new") + 1])
    assert ran == [
        "project",
        "live",
        "json",
        "html",
        "auth",
        "migration",
        "workflow",
        "node",
        "provider",
    ]
    for kind in ("live", "json", "html"):
        code, _, err = run_new([LONGEST[0], kind, *LONGEST[2:]], cwd)
        assert code == 0, f"{kind}: {err}"
    return cwd


def check(project: Path, *argv: str, timeout: float = 500) -> str:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    result = subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_project_has_every_part_the_readme_names(project: Path) -> None:
    for path in (
        "pyproject.toml",
        "README.md",
        "justfile",
        ".ci/run",
        "src/shop/app.py",
        "src/shop/live/products.py",
        "src/shop/api/orders.py",
        "tests/api/test_orders.py",
        "src/shop/pages/notes.py",
        "tests/pages/test_notes.py",
        "src/shop/live/auth.py",
        "tests/live/test_auth_http.py",
        "assets/workflows/summarize.py",
        "assets/nodes/headline.py",
        "assets/providers/shout.py",
        "tests/live/test_products_browser.py",
    ):
        assert (project / path).is_file(), path
    assert os.access(project / ".ci" / "run", os.X_OK)
    app = (project / "src/shop/app.py").read_text()
    assert '"products": products_view(system),' in app
    assert "await start_products(system)" in app
    assert "*orders_api(system)," in app and "await start_orders_api(system)" in app
    assert "*notes_pages(system)," in app and "await start_notes_pages(system)" in app
    assert "**auth_views(system)," in app and "await start_users(system)" in app
    pyproject = (project / "pyproject.toml").read_text()
    assert f'path = "{os.path.relpath(REPO, project)}"' in pyproject


def test_generated_code_passes_ruff(project: Path) -> None:
    check(project, "ruff", "check", ".")
    check(project, "ruff", "format", "--check", ".")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_generated_code_passes_mypy_strict(project: Path) -> None:
    assert "Success" in check(project, "mypy")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_generated_tests_pass(project: Path) -> None:
    out = check(project, "pytest", "-q", "-p", "no:randomly", "-rs")
    passed = re.search(r"(\d+) passed", out)
    assert passed is not None and int(passed.group(1)) >= 20, out
    assert " failed" not in out
    chromium = os.environ.get("LIGHTFLOW_CHROMIUM") or shutil.which("chromium")
    if os.path.exists(chromium or "/usr/bin/chromium"):
        assert " skipped" not in out, out  # the generated Chromium tests ran here


def test_the_project_resolves_offline_against_the_checkout(project: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    result = subprocess.run(
        [uv, "lock", "--offline"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    # uv names a package its cache lacks in one of these ways ("not found in the cache",
    # "the network was disabled"); a fresh machine whose `uv sync --frozen` installed from
    # the lock file's URLs has the wheels cached but not the registry's index pages.
    lacks = ("offline", "not found in the cache", "network was disabled")
    if result.returncode != 0 and any(words in result.stderr.lower() for words in lacks):
        pytest.skip(f"uv's cache lacks a package the project needs: {result.stderr[-300:]}")
    assert result.returncode == 0, result.stderr
    assert 'name = "lightflow-actors"' in (project / "uv.lock").read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(project: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    server = subprocess.Popen(
        [sys.executable, "-m", "shop", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_app_serves_its_generated_views(served: str) -> None:
    for _ in range(600):
        try:
            with urllib.request.urlopen(served + "/health", timeout=5) as response:
                assert response.read() == b'{"status":"ok"}'
            break
        except OSError:
            time.sleep(0.05)
    else:
        raise AssertionError("the generated app never answered /health")
    with urllib.request.urlopen(served + "/live/products", timeout=10) as response:
        page = response.read().decode()
    assert 'id="new-product"' in page and 'lf-update="stream"' in page


def test_the_generated_readme_s_run_commands_work(project: Path, tmp_path: Path) -> None:
    readme = (project / "README.md").read_text()
    block = re.search(r"## Runs.*?```sh\n(.*?)```", readme, flags=re.DOTALL)
    assert block is not None, "the project's README has no Runs commands"
    lightflow = Path(sys.executable).with_name("lightflow")
    outputs = []
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        settings = dict(word.split("=", 1) for word in words if re.match(r"\w+=", word))
        command = words[len(settings) :]
        assert command[:3] == ["uv", "run", "lightflow"], line
        result = subprocess.run(
            [str(lightflow), *command[3:]],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **settings, "XDG_STATE_HOME": str(tmp_path)},
        )
        assert result.returncode == 0, f"{line}:\n{result.stderr}"
        outputs.append(result.stdout)
    assert '"status":"succeeded"' in outputs[0]
    assert '"name":"hello","kind":"python"' in outputs[1]
