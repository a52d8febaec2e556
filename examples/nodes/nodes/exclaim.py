"""A node as a decorated typed function: asset `exclaim` and the provider of its tool."""

import msgspec

from lightflow_actors.flow import node


class Text(msgspec.Struct):
    text: str


@node
def exclaim(req: Text) -> Text:
    """Appends an exclamation mark."""
    return Text(req.text + "!")
