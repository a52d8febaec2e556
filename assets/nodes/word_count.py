"""A reusable tool step: count the words and lines of a text with the `wordcount` tool."""

import msgspec

from lightflow_actors.flow import Node, ToolStep

METADATA = {
    "id": "text.word-count",
    "title": "Word count",
    "kind": "node",
    "description": "Counts words and lines of `text` through /ctx/tool/wordcount.",
    "stability": "stable",
}


class Params(msgspec.Struct, frozen=True):
    text: str


class WordCountInput(msgspec.Struct, frozen=True):
    text: str


class WordCount(msgspec.Struct, frozen=True):
    words: int
    lines: int


DEFINITION = Node(
    params=Params,
    step=ToolStep(
        id="count",
        tool="wordcount",
        input=WordCountInput,
        output=WordCount,
        request={"text": "{params.text}"},
    ),
)
