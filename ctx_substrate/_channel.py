"""Channel folders `/ctx/chan/<id>/{url,keyref,fmt,mod,enabled,status,localurl}`.

Each file holds one text value. `keyref` *names* a secret (`env:NAME`); the key itself
never sits in the tree and is read from the environment only when a request is sent.
`localurl`, when non-empty, is where requests actually go (a local gateway); `url` stays
the channel's public identity. `status` is written by the substrate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from lightflow_actors.cortex import atomic_write, check_short_id

from ._errors import ChannelError

__all__ = ["Channel", "read_channel", "resolve_keyref", "write_channel", "write_channel_status"]

_MAX_VALUE = 4096


class Channel(msgspec.Struct, frozen=True):
    id: str
    url: str
    keyref: str = ""
    fmt: str = "openai.chat"
    mod: str = ""
    enabled: bool = True
    localurl: str = ""

    @property
    def endpoint(self) -> str:
        """Where requests go: `localurl` when set, else `url`."""
        return self.localurl or self.url


def _value(folder: Path, name: str, channel: str, *, required: bool) -> str:
    path = folder / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        if required:
            raise ChannelError(channel, f"missing file {name!r}; write it in {folder}") from None
        return ""
    except OSError as exc:
        raise ChannelError(channel, f"cannot read {name!r} ({exc.strerror})") from exc
    try:
        data = os.read(fd, _MAX_VALUE + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_VALUE:
        raise ChannelError(channel, f"{name!r} is longer than {_MAX_VALUE} bytes")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ChannelError(channel, f"{name!r} is not UTF-8 text") from exc


def read_channel(folder: Path) -> Channel:
    """Read a channel folder; raises `ChannelError` naming the missing or bad file."""
    channel = check_short_id("channel", folder.name)
    url = _value(folder, "url", channel, required=True)
    if not url.startswith(("http://", "https://")):
        raise ChannelError(channel, f"url {url!r} must start with http:// or https://")
    localurl = _value(folder, "localurl", channel, required=False)
    if localurl and not localurl.startswith(("http://", "https://")):
        raise ChannelError(channel, f"localurl {localurl!r} must start with http:// or https://")
    keyref = _value(folder, "keyref", channel, required=False)
    if keyref and not keyref.startswith("env:"):
        raise ChannelError(channel, f"keyref {keyref!r} must name a secret as env:NAME")
    enabled = _value(folder, "enabled", channel, required=False) or "true"
    if enabled not in ("true", "false", "1", "0"):
        raise ChannelError(channel, f"enabled must be true or false, not {enabled!r}")
    return Channel(
        id=channel,
        url=url,
        keyref=keyref,
        fmt=_value(folder, "fmt", channel, required=False) or "openai.chat",
        mod=_value(folder, "mod", channel, required=False),
        enabled=enabled in ("true", "1"),
        localurl=localurl,
    )


def resolve_keyref(channel: Channel, environ: Mapping[str, str] | None = None) -> str | None:
    """The secret a keyref names, or None for a channel without a key."""
    if not channel.keyref:
        return None
    name = channel.keyref.removeprefix("env:")
    env = os.environ if environ is None else environ
    value = env.get(name)
    if not value:
        raise ChannelError(
            channel.id, f"keyref {channel.keyref!r} names ${name}, which is unset; export it"
        )
    return value


def write_channel(folder: Path, channel: Channel) -> None:
    """Create a channel folder from a `Channel` (tests, setup scripts)."""
    folder.mkdir(parents=True, exist_ok=True)
    values = {
        "url": channel.url,
        "keyref": channel.keyref,
        "fmt": channel.fmt,
        "mod": channel.mod,
        "enabled": "true" if channel.enabled else "false",
        "localurl": channel.localurl,
    }
    for name, value in values.items():
        atomic_write(folder / name, (value + "\n").encode())


def write_channel_status(folder: Path, status: str) -> None:
    atomic_write(folder / "status", (status + "\n").encode())
