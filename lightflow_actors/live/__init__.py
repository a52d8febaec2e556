"""Live sessions: rendered trees with statics apart from dynamics, diffs, client merge.

Server side: compile a `Template` once, call it to get a `Rendered`, keep one
`DiffState` per connection and send `DiffState.diff(rendered)` as the patch.
First GET: `to_html(rendered)`. Client side (Python reference of the JS client):
`apply_patch(state, patch)` and `client_html(state)`. Wire format: specs/live-diff.md.
"""

from ._diff import DiffState
from ._errors import (
    FingerprintCollisionError,
    LiveError,
    PatchDecodeError,
    PatchError,
    RenderedError,
    TemplateSyntaxError,
    TemplateValueError,
)
from ._markup import Markup, escape, safe
from ._merge import (
    ClientComprehension,
    ClientNode,
    ClientState,
    ClientValue,
    apply_patch,
    client_html,
)
from ._patch import Patch, decode_patch, encode_patch
from ._rendered import Comprehension, Dynamic, Rendered, to_html
from ._template import Key, Template, Value, each, keyed

__all__ = [
    "ClientComprehension",
    "ClientNode",
    "ClientState",
    "ClientValue",
    "Comprehension",
    "DiffState",
    "Dynamic",
    "FingerprintCollisionError",
    "Key",
    "LiveError",
    "Markup",
    "Patch",
    "PatchDecodeError",
    "PatchError",
    "Rendered",
    "RenderedError",
    "Template",
    "TemplateSyntaxError",
    "TemplateValueError",
    "Value",
    "apply_patch",
    "client_html",
    "decode_patch",
    "each",
    "encode_patch",
    "escape",
    "keyed",
    "safe",
    "to_html",
]
