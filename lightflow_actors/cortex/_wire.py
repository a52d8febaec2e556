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
    "DECODE_ERRORS",
    "ErrorKind",
    "ErrorRecord",
    "RouteRecord",
    "decode_error",
    "decode_failure_kind",
    "decode_route",
    "encode_record",
    "fingerprint",
    "safe_text",
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
    "too_deep",  # the request body nests deeper than the decoder allows
    "invalid_utf8",  # the request body is not UTF-8
    "not_renamed",  # the request was written in place, not committed by a rename
    "hard_link",  # the request file has other links (possibly to a file outside the tree)
    "name_too_long",  # the id fits as `<id>.req.json` but not in every answer name
    "interrupted",  # an at-most-once request was in flight at a restart: not sent again
    "io_error",  # the substrate could not read the request or write its answer (errno named)
    "internal",  # the substrate failed on this request (a bug); it was quarantined
]

DECODE_ERRORS: tuple[type[Exception], ...] = (
    msgspec.DecodeError,  # not JSON, or not the schema (msgspec.ValidationError is one)
    UnicodeDecodeError,  # a string that is not UTF-8
    RecursionError,  # nesting deeper than msgspec's limit
)
"""Every error a msgspec decoder raises for bad bytes: catch these, never only DecodeError."""


def decode_failure_kind(exc: BaseException) -> ErrorKind:
    """The `ErrorKind` of a decoding failure (one of `DECODE_ERRORS`)."""
    if isinstance(exc, RecursionError):
        return "too_deep"
    if isinstance(exc, UnicodeDecodeError):
        return "invalid_utf8"
    return "malformed"


def safe_text(value: str) -> str:
    """`value` made encodable as UTF-8 JSON: a file name read from disk may hold lone
    surrogates (bytes that were not UTF-8), which msgspec refuses to encode."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class RouteRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`<id>.route.json`: who served the request, with which model, and why."""

    provider: str
    model: str
    reason: str
    # The key sent with the provider's call (HTTP providers: `Idempotency-Key`), derived
    # from the request, so a call made again after a restart carries the same key.
    idempotency_key: str | msgspec.UnsetType = msgspec.UNSET
    # True when the request was served again after a restart found it in flight: the
    # provider may have been called twice (once before the crash).
    resumed: bool | msgspec.UnsetType = msgspec.UNSET


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
    """Decode a route file; raises one of `DECODE_ERRORS` (a field error names the field)."""
    return msgspec.json.decode(data, type=RouteRecord)


def decode_error(data: bytes) -> ErrorRecord:
    """Decode an error file; raises one of `DECODE_ERRORS` (a field error names the field)."""
    return msgspec.json.decode(data, type=ErrorRecord)
