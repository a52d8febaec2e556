"""CortexFS client side: the ABI's paths and id rules, crash-safe commits, `ctx` verb records.

Workflow runs talk to a CortexFS tree (our `ctx_substrate`, or any implementation of
specs/cortexfs-abi.md) only through this package.

>>> layout = CtxLayout(root="/tmp/ctx", uid="1000")
>>> ctx_api(layout, "openai.chat", "step-1").files.request
'/tmp/ctx/home/1000/api/openai.chat/inbox/step-1.req.json'
"""

from ._client import ClientWatch, CortexClient, Shortcut

__all__ = [
    "ClientWatch",
    "CortexClient",
    "Shortcut",
]
