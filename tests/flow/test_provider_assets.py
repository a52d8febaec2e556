"""Provider assets (`@provider` under `<assets>/providers/`): discovered and listed without
running the file; misuse, duplicates and hostile files are located problems."""

from __future__ import annotations

import textwrap
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors.flow import (
    ProviderDecl,
    ProviderDeclarationError,
    provider,
    provider_decl,
    scan_provider_assets,
)

GOOD = """
import msgspec
from lightflow_actors.flow import provider

class Said(msgspec.Struct):
    text: str

@provider(thread="shout", model="m1")
async def shout(req: Said) -> Said:
    return Said(req.text + "!")

@provider("counter", tool=("count", "tally"), concurrency=4)
def count(req):
    return {"n": 1}

def helper(x, y):
    return x
"""


def write(root: Path, name: str, source: str | bytes) -> Path:
    folder = root / "providers"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(source, bytes):
        path.write_bytes(source)
    else:
        path.write_text(textwrap.dedent(source))
    return path


def test_decorated_functions_are_discovered_with_their_routes(tmp_path: Path) -> None:
    path = write(tmp_path, "shout.py", GOOD)
    listing = scan_provider_assets([tmp_path])
    assert listing.problems == []
    by_name = {p.decl.name: p for p in listing.providers}
    assert set(by_name) == {"shout", "counter"}
    shout = by_name["shout"]
    assert shout.is_async and shout.function == "shout" and shout.line == 9
    assert shout.decl == ProviderDecl(name="shout", thread=("shout",), model="m1")
    assert shout.target == f"{path}:shout"
    counter = by_name["counter"]
    assert not counter.is_async and counter.function == "count"
    assert counter.decl.routes() == [("tool", "count"), ("tool", "tally")]
    assert counter.decl.concurrency == 4


def test_a_folder_without_providers_lists_nothing(tmp_path: Path) -> None:
    assert scan_provider_assets([tmp_path, tmp_path / "missing"]).providers == []


def test_listing_never_executes_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    write(
        tmp_path,
        "side.py",
        f"""
        from pathlib import Path
        from lightflow_actors.flow import provider
        Path({str(marker)!r}).write_text("imported")
        raise SystemExit(3)

        @provider(api="openai.chat")
        def chat(req):
            return {{}}
        """,
    )
    listing = scan_provider_assets([tmp_path])
    assert [p.decl.name for p in listing.providers] == ["chat"]
    assert not marker.exists()


@pytest.mark.parametrize(
    ("source", "failure", "says"),
    [
        ("@provider(thread='t')\ndef f(a, b):\n    pass\n", "signature", "exactly one argument"),
        ("@provider(thread='t')\ndef f():\n    pass\n", "signature", "exactly one argument"),
        ("@provider(thread='t')\ndef f(a, *, k):\n    pass\n", "signature", "exactly one"),
        ("@provider()\ndef f(a):\n    pass\n", "decorator", "routes nothing"),
        ("@provider(thread=NAME)\ndef f(a):\n    pass\n", "decorator", "thread= must be a lit"),
        ("@provider(thread='t', colour=1)\ndef f(a):\n    pass\n", "decorator", "colour"),
        ("@provider(thread='../x')\ndef f(a):\n    pass\n", "decorator", "thread"),
        ("@provider('a b', thread='t')\ndef f(a):\n    pass\n", "decorator", "name"),
        ("@provider(**opts)\ndef f(a):\n    pass\n", "decorator", "**kwargs"),
        ("@provider(thread='t', concurrency=0)\ndef f(a):\n    pass\n", "decorator", "concur"),
        (
            "@provider(thread='t')\n@provider(thread='u')\ndef f(a):\n    pass\n",
            "decorator",
            "twice",
        ),
        ("def f(a):\n  @provider(\n", "syntax", "syntax error"),
    ],
)
def test_misuse_is_a_located_problem(tmp_path: Path, source: str, failure: str, says: str) -> None:
    path = write(tmp_path, "bad.py", source)
    write(tmp_path, "good.py", "@provider(thread='ok')\ndef ok(req):\n    return {}\n")
    listing = scan_provider_assets([tmp_path])
    assert [p.decl.name for p in listing.providers] == ["ok"]  # one bad file hides nothing
    (problem,) = listing.problems
    assert problem.path == str(path) and problem.failure == failure
    assert says in problem.error and problem.error.endswith(f"(failure: {failure})")
    assert problem.line >= 1


def test_a_name_or_route_declared_twice_is_taken_from_neither(tmp_path: Path) -> None:
    a = write(tmp_path, "a.py", "@provider(thread='t')\ndef shout(req):\n    return {}\n")
    b = write(tmp_path / "overlay", "b.py", "@provider(api='x')\ndef shout(req):\n    return {}\n")
    write(tmp_path, "c.py", "@provider(tool='w')\ndef one(r):\n    pass\n")
    write(tmp_path, "d.py", "@provider(tool='w')\ndef two(r):\n    pass\n")
    write(tmp_path, "e.py", "@provider(tool='z')\ndef three(r):\n    pass\n")
    listing = scan_provider_assets([tmp_path, tmp_path / "overlay"])
    assert [p.decl.name for p in listing.providers] == ["three"]
    assert {p.failure for p in listing.problems} == {"duplicate"}
    named = [p for p in listing.problems if "provider 'shout'" in p.error]
    assert {p.path for p in named} == {str(a), str(b)}
    assert any("route tool/w" in p.error for p in listing.problems)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe@provider(thread='t')\ndef f(a):\n    pass\n",  # invalid UTF-8
        b"x = 1\x00\n",  # a NUL byte
        b"x = " + b"(" * 5000 + b")" * 5000 + b"\n",  # nested too deeply
        b"# " + b"x" * (1 << 20) + b"\n",  # oversized
    ],
)
def test_hostile_files_are_problems(tmp_path: Path, raw: bytes) -> None:
    write(tmp_path, "hostile.py", raw)
    listing = scan_provider_assets([tmp_path])
    assert listing.providers == []
    (problem,) = listing.problems
    assert problem.failure == "syntax"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(tmp_path: Path, raw: bytes) -> None:
    write(tmp_path, "fuzz.py", b"@provider(thread='t')\ndef f(a):\n    pass\n" + raw)
    listing = scan_provider_assets([tmp_path])
    assert len(listing.providers) + len(listing.problems) >= 1


def test_the_decorator_marks_and_checks_at_import() -> None:
    @provider(thread="shout")
    async def shout(req: object) -> object:
        return req

    assert provider_decl(shout) == ProviderDecl(name="shout", thread=("shout",))
    assert provider_decl(lambda r: r) is None
    with pytest.raises(ProviderDeclarationError, match="exactly one argument"):
        provider(thread="t")(lambda a, b: a)
    with pytest.raises(ProviderDeclarationError, match="routes nothing"):
        provider("x")(lambda a: a)
    with pytest.raises(ProviderDeclarationError, match="thread"):
        provider("x", thread="a/b")(lambda a: a)


def test_decl_is_plain_data() -> None:
    decl = ProviderDecl(name="p", api=("openai.chat",))
    assert msgspec.json.decode(msgspec.json.encode(decl), type=ProviderDecl) == decl
