"""The built-in tools: deterministic, offline Python functions that the default runs config
serves through the `local-tools` provider, so the shipped workflows' tool steps run on a
fresh machine the way `local-echo` answers their api and thread steps.

Each tool is typed like the steps that call it: its input struct is what the tool request
body decodes into (unknown fields refused), its output struct is its answer. Adding a tool
here makes it available (and routed by default) under its name.
"""

from __future__ import annotations

import msgspec

from ctx_substrate import ProviderSpec, ToolFunction, tool_function, tools_provider

__all__ = ["BUILTIN_TOOLS", "WordCount", "WordCountInput", "builtin_tools", "word_count"]


class WordCountInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    text: str


class WordCount(msgspec.Struct, frozen=True):
    words: int
    lines: int


def word_count(value: WordCountInput) -> WordCount:
    """Words (runs of non-whitespace) and lines (a last line without `\\n` counts).

    >>> word_count(WordCountInput("one two\\nthree"))
    WordCount(words=3, lines=2)
    """
    return WordCount(words=len(value.text.split()), lines=len(value.text.splitlines()))


BUILTIN_TOOLS: dict[str, ToolFunction] = {
    "wordcount": tool_function(WordCountInput, word_count),
}


def builtin_tools(name: str, tools: tuple[str, ...]) -> ProviderSpec:
    """The provider `name` serving the built-in `tools` (names checked by the config)."""
    return tools_provider(name, {tool: BUILTIN_TOOLS[tool] for tool in tools}, model="builtin")
