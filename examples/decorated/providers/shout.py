"""A provider as a decorated typed function: answers thread `shout`, no config entry."""

import msgspec

from lightflow_actors.flow import provider


class Said(msgspec.Struct):
    text: str


@provider(thread="shout")
async def shout(req: Said) -> Said:
    return Said(req.text + "!")
