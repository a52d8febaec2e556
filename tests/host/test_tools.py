"""The built-in tools behind `local-tools`: typed input decoded once (anything else is a
`malformed` refusal naming the field), deterministic output."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctx_substrate import ProviderFailure
from lightflow_actors.host import BUILTIN_TOOLS, WordCount

wordcount = BUILTIN_TOOLS["wordcount"]


@pytest.mark.parametrize(
    "text,words,lines",
    [("", 0, 0), ("one", 1, 1), ("one two\n", 2, 1), ("a\r\nb  c\n\n", 3, 3), (" \t ", 0, 1)],
)
def test_wordcount_counts_words_and_lines(text: str, words: int, lines: int) -> None:
    assert wordcount.call({"text": text}) == WordCount(words=words, lines=lines)


@pytest.mark.parametrize(
    "body,words",
    [
        ({}, "missing required field `text`"),
        ({"text": 3}, "$.text"),
        ({"text": "a", "extra": 1}, "unknown field `extra`"),
        ({"args": ["-w"], "stdin": "a b"}, "unknown field"),
    ],
)
def test_wordcount_refuses_other_inputs_naming_the_field(
    body: dict[str, object], words: str
) -> None:
    with pytest.raises(ProviderFailure) as refused:
        wordcount.call(body)
    assert refused.value.kind == "malformed" and words in refused.value.message
    assert "WordCountInput" in refused.value.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    st.dictionaries(
        st.sampled_from(["text", "Text", "words", ""]) | st.text(max_size=8),
        json_values,
        max_size=4,
    )
)
def test_any_input_is_counted_or_refused_malformed(body: dict[str, object]) -> None:
    try:
        counted = wordcount.call(body)
    except ProviderFailure as exc:
        assert exc.kind == "malformed"
    else:
        assert isinstance(counted, WordCount) and isinstance(body["text"], str)


@given(st.text(max_size=5000))
def test_any_text_is_counted(text: str) -> None:
    counted = wordcount.call({"text": text})
    assert isinstance(counted, WordCount)
    assert 0 <= counted.words <= len(text) and 0 <= counted.lines <= len(text)
    assert (counted.words == 0) == (not text.split())
