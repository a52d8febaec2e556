"""The patch: the JSON a server sends so a client can rebuild the rendered tree.

A `Patch` carries the statics of templates the connection has not seen yet
(``"t"``: template id -> statics), the changed part of the root (``"r"``) and the
changed live components (``"c"``: cid -> subtree, or null when it left the page).
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

ComponentId: TypeAlias = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
"""A live component's cid in one session (1, 2, 3...; never reused)."""

PatchValue: TypeAlias = "str | int | list[PatchValue] | dict[str, PatchValue]"
"""One JSON value inside ``"r"``: text, a template id or cid, an op list, or a node."""

MAX_PATCH_BYTES: Final = 16 * 1024 * 1024
"""Default cap for `decode_patch`; a first render of a big page stays far below it."""


class Patch(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """One update for one connection: new statics (``t``), the root's changes (``r``),
    the live components' changes (``c``).

    `root` is None when nothing changed. The fields are plain JSON; encode with
    `encode_patch`. The values of `root` and `components` are typed `object` because
    a node's meaning depends on the client state it lands on; `apply_patch` validates
    them. A component mapped to None left the page.
    """

    templates: Mapping[TemplateId, tuple[str, ...]] = msgspec.field(default_factory=dict, name="t")
    root: Mapping[str, object] | None = msgspec.field(default=None, name="r")
    components: Mapping[ComponentId, object] = msgspec.field(default_factory=dict, name="c")

    @property
    def is_empty(self) -> bool:
        """True when the patch changes nothing (a session can skip sending it)."""
        return self.root is None and not self.templates and not self.components


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
