"""Where everything lives in a CortexFS tree (DESIGN.md §8, specs/cortexfs-abi.md).

`CtxLayout` maps ABI names (format, tool, thread, channel, job, hook, request id) to paths,
checking every id on the way so a path it returns never leaves the tree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Literal, cast, get_args

import msgspec

from ._errors import UnknownFormatError
from ._ids import check_segment_id, check_short_id

__all__ = [
    "API_FORMATS",
    "DEFAULT_MOUNT",
    "ApiFormat",
    "CtxLayout",
    "Suffix",
    "TargetKind",
    "check_format",
]

ApiFormat = Literal[
    "openai.chat", "openai.responses", "anthropic.messages", "google.generate_content"
]
API_FORMATS: Final[tuple[str, ...]] = get_args(ApiFormat)
TargetKind = Literal["api", "tool", "thread"]
DEFAULT_MOUNT: Final = "/ctx"


class Suffix:
    """File-name suffixes of the exchange; `<id><suffix>` names each file."""

    TMP: Final = ".tmp"
    REQUEST: Final = ".req.json"
    RESPONSE: Final = ".resp.json"
    ERROR: Final = ".error"
    FINGERPRINT: Final = ".fingerprint"
    ROUTE: Final = ".route.json"
    # Substrate bookkeeping: a request renamed to `.claimed` is being served; `.done` is
    # answered. Neither ends in `.req.json`, so neither ever re-triggers.
    CLAIMED: Final = ".claimed"
    DONE: Final = ".done"
    DUPLICATE: Final = ".duplicate"
    # Written by the client before the commit: serve this request at most once (after a
    # restart that found it claimed, it is answered `interrupted`, not sent again).
    ONCE: Final = ".once"
    # Written by the client before the commit: the tenant the request is served for (its
    # provider-call budget and its fair share of the provider's slots; ADR 0104).
    TENANT: Final = ".tenant"


def check_format(fmt: str) -> ApiFormat:
    """Return `fmt` typed as `ApiFormat`, or raise `UnknownFormatError`."""
    if fmt in API_FORMATS:
        return cast(ApiFormat, fmt)
    raise UnknownFormatError(fmt, API_FORMATS)


class CtxLayout(msgspec.Struct, frozen=True):
    """The path layout of one CortexFS tree as seen by one uid.

    >>> layout = CtxLayout(root="/tmp/ctx", uid="1000")
    >>> str(layout.api_inbox("openai.chat"))
    '/tmp/ctx/home/1000/api/openai.chat/inbox'
    """

    root: str
    uid: str

    def __post_init__(self) -> None:
        check_segment_id("uid", self.uid)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, uid: int | None = None
    ) -> CtxLayout:
        """The layout named by the environment.

        `LIGHTFLOW_CTX_MOUNT` overrides the mount point `/ctx`; `LIGHTFLOW_CTX_UID` overrides
        the uid, but only together with the mount: a uid override alone would let a process
        address another user's home on the shared `/ctx`, so it is ignored there.
        """
        env = os.environ if environ is None else environ
        own_uid = str(os.getuid() if uid is None else uid)
        mount = env.get("LIGHTFLOW_CTX_MOUNT")
        if mount:
            return cls(root=mount, uid=env.get("LIGHTFLOW_CTX_UID") or own_uid)
        return cls(root=DEFAULT_MOUNT, uid=own_uid)

    # -- folders ---------------------------------------------------------------------------
    @property
    def root_path(self) -> Path:
        return Path(self.root)

    @property
    def home(self) -> Path:
        return self.root_path / "home" / self.uid

    @property
    def audit_log(self) -> Path:
        return self.root_path / "audit" / "events.jsonl"

    @property
    def model_dir(self) -> Path:
        return self.root_path / "model"

    @property
    def route_dir(self) -> Path:
        return self.root_path / "route"

    def api_dir(self, fmt: str) -> Path:
        return self.home / "api" / check_format(fmt)

    def api_inbox(self, fmt: str) -> Path:
        return self.api_dir(fmt) / "inbox"

    def api_outbox(self, fmt: str) -> Path:
        return self.api_dir(fmt) / "outbox"

    def tool_dir(self, tool: str) -> Path:
        return self.root_path / "tool" / check_segment_id("tool", tool)

    def tool_inbox(self, tool: str) -> Path:
        return self.tool_dir(tool) / "invoke" / "inbox"

    def tool_outbox(self, tool: str) -> Path:
        return self.tool_dir(tool) / "invoke" / "outbox"

    def thread_inbox(self, thread: str) -> Path:
        return self.home / "thread" / check_segment_id("thread", thread) / "inbox"

    def chan_dir(self, channel: str) -> Path:
        return self.root_path / "chan" / check_short_id("channel", channel)

    def job_dir(self, job: str) -> Path:
        return self.home / "job" / check_short_id("job", job)

    def hook_dir(self, hook: str) -> Path:
        return self.home / "hook" / check_short_id("hook", hook)

    # -- exchange folders by target ----------------------------------------------------------
    def inbox(self, kind: TargetKind, name: str) -> Path:
        """The inbox of an api format, a tool or a thread."""
        if kind == "api":
            return self.api_inbox(name)
        if kind == "tool":
            return self.tool_inbox(name)
        return self.thread_inbox(name)

    def outbox(self, kind: TargetKind, name: str) -> Path:
        """Where answers appear: the outbox, or for a thread its inbox itself."""
        if kind == "api":
            return self.api_outbox(name)
        if kind == "tool":
            return self.tool_outbox(name)
        return self.thread_inbox(name)

    @staticmethod
    def file(folder: Path, request_id: str, suffix: str) -> Path:
        """`folder/<request_id><suffix>` with the id checked as a single segment."""
        return folder / (check_segment_id("request", request_id) + suffix)
