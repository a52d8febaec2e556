"""The records written next to a request: route, error and fingerprint (specs/cortexfs-abi.md).

`<id>.route.json` says which provider and model served a request and why; `<id>.error` says
why a request was refused or failed; `<id>.fingerprint` is the SHA-256 of the request bytes,
so an answer can be matched to the exact request it answers.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

__all__ = [
    "ErrorKind",
    "ErrorRecord",
    "RouteRecord",
    "decode_error",
    "decode_route",
    "encode_record",
    "fingerprint",
]

ErrorKind = Literal[
    "invalid_id",  # the request id is not a single path segment
    "path_escape",  # the request is a symlink or its folder leaves the tree
    "too_large",  # the request file exceeds the configured limit
    "malformed",  # the request body is not the JSON the target expects
    "unknown_format",  # an api folder outside the four ABI formats
    "no_route",  # no provider is configured for this target
    "denied",  # the policy forbids the routed provider to serve this target
    "provider_crashed",  # the provider actor crashed while serving; it was restarted
    "provider_error",  # the provider reported a failure (HTTP error, bad output, ...)
    "timeout",  # the provider did not finish in its time limit
    "output_limit",  # a tool wrote more output than its limit
]


class RouteRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`<id>.route.json`: who served the request, with which model, and why."""

    provider: str
    model: str
    reason: str


class ErrorRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`<id>.error`: a JSON object naming the failure class and a message for a person."""

    id: str
    kind: ErrorKind
    message: str


def fingerprint(request: bytes) -> str:
    """The `<id>.fingerprint` content: `sha256:<hex>` of the request bytes."""
    return "sha256:" + hashlib.sha256(request).hexdigest()


def encode_record(record: RouteRecord | ErrorRecord) -> bytes:
    return msgspec.json.encode(record)


def decode_route(data: bytes) -> RouteRecord:
    """Decode a route file; raises `msgspec.ValidationError` naming the bad field."""
    return msgspec.json.decode(data, type=RouteRecord)


def decode_error(data: bytes) -> ErrorRecord:
    """Decode an error file; raises `msgspec.ValidationError` naming the bad field."""
    return msgspec.json.decode(data, type=ErrorRecord)
