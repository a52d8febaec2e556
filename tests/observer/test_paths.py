"""The observer shows a traceback's files relative to their import root."""

from __future__ import annotations

import sys
import traceback

from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.observer._paths import import_roots, readable_traceback

TEXT = """Traceback (most recent call last):
  File "/work/wt-observer/lightflow_actors/kernel/_cell.py", line 557, in _run
    result = entry.fn(actor, message)
  File "/home/op/.venv/lib/python3.12/site-packages/app/jobs.py", line 9, in tick
    raise DemoCrash("File \\"/etc/passwd\\", line 1")
  File "/srv/scripts/run.py", line 3, in <module>
  File "<string>", line 1, in <module>
DemoCrash: File "/work/wt-observer/x.py", line 2 is in the message
"""
ROOTS = import_roots(["/work/wt-observer", "/home/op/.venv/lib/python3.12/site-packages", ""])


def test_each_frame_is_shown_under_its_import_root() -> None:
    lines = readable_traceback(TEXT, ROOTS).splitlines()
    assert lines[1] == '  File "lightflow_actors/kernel/_cell.py", line 557, in _run'
    assert lines[3] == '  File "app/jobs.py", line 9, in tick'
    # Source lines, files under no root, <string> and the message stay as they are.
    assert lines[2] == TEXT.splitlines()[2]
    assert lines[4] == TEXT.splitlines()[4]
    assert lines[5] == '  File "/srv/scripts/run.py", line 3, in <module>'
    assert lines[6] == '  File "<string>", line 1, in <module>'
    assert lines[7] == TEXT.splitlines()[7]


def test_the_longest_root_wins_and_a_root_is_a_whole_directory() -> None:
    roots = import_roots(["/opt/app", "/opt/app/vendor", "/opt/ap"])
    assert roots[0] == "/opt/app/vendor/"
    text = '  File "/opt/app/vendor/lib/x.py", line 1, in f\n  File "/opt/apple/y.py", line 2, in g'
    assert readable_traceback(text, roots) == (
        '  File "lib/x.py", line 1, in f\n  File "/opt/apple/y.py", line 2, in g'
    )
    # Relative entries and the filesystem root are not import roots to strip.
    assert import_roots(["", "relative/dir", "/"]) == ()


def test_a_real_traceback_names_this_package_relative() -> None:
    try:
        readable_traceback(None, ())  # type: ignore[arg-type]
    except TypeError:
        text = traceback.format_exc()
    shown = readable_traceback(text)
    assert 'File "lightflow_actors/observer/_paths.py", line ' in shown
    assert not any(root in shown for root in import_roots(sys.path))


@settings(max_examples=50)
@given(st.text())
def test_any_text_keeps_its_lines_and_only_frame_paths_change(text: str) -> None:
    shown = readable_traceback(text, ROOTS)
    assert len(shown.splitlines()) == len(text.splitlines())
    if 'File "' not in text:
        assert shown == text


@settings(max_examples=50)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters='"\n\r'), min_size=1)))
def test_a_path_under_no_root_is_shown_as_it_is(parts: list[str]) -> None:
    path = "/elsewhere/" + "/".join(parts)
    line = f'  File "{path}", line 1, in f'
    assert readable_traceback(line, ROOTS) == line
