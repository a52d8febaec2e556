"""The patch: the JSON a server sends so a client can rebuild the rendered tree.

A `Patch` carries the statics of templates the connection has not seen yet
(``"t"``: template id -> statics) and the changed part of the root (``"r"``).
The exact wire format is in specs/live-diff.md; `DiffState` produces patches,
`apply_patch` merges them. Decoding is done once here, with msgspec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final, TypeAlias

import msgspec

from ._errors import PatchDecodeError

TemplateId: TypeAlias = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
"""A per-connection small integer naming one template's statics (assigned 0, 1, 2...)."""

PatchValue: TypeAlias = "str | int | list[PatchValue] | dict[str, PatchValue]"
"""One JSON value inside ``"r"``: text, a template id, an op list, or a node."""

MAX_PATCH_BYTES: Final = 16 * 1024 * 1024
"""Default cap for `decode_patch`; a first render of a big page stays far below it."""


class Patch(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """One update for one connection: new statics (``t``) and the root's changes (``r``).

    `root` is None when nothing changed. Both fields are plain JSON; encode with
    `encode_patch`. The values of `root` are typed `object` because a node's
    meaning depends on the client state it lands on; `apply_patch` validates it.
    """

    templates: Mapping[TemplateId, tuple[str, ...]] = msgspec.field(default_factory=dict, name="t")
    root: Mapping[str, object] | None = msgspec.field(default=None, name="r")

    @property
    def is_empty(self) -> bool:
        """True when the patch changes nothing (a session can skip sending it)."""
        return self.root is None and not self.templates


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(Patch)


def encode_patch(patch: Patch) -> bytes:
    """The patch as compact JSON bytes (what goes on the wire)."""
    return _encoder.encode(patch)


def decode_patch(data: bytes | str, *, max_bytes: int = MAX_PATCH_BYTES) -> Patch:
    """Decode JSON into a `Patch`, or raise `PatchDecodeError` naming the bad field.

    Only the envelope is typed here; the tree under ``"r"`` is checked by
    `apply_patch` against the client state it modifies.
    """
    # A str is measured in characters (never more than its UTF-8 bytes).
    if len(data) > max_bytes:
        raise PatchDecodeError(f"{len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as error:
        raise PatchDecodeError(str(error)) from None
    except msgspec.DecodeError as error:
        raise PatchDecodeError(f"not JSON ({error})") from None
    except RecursionError:
        raise PatchDecodeError("nested too deeply") from None
