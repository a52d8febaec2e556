"""Decode what a request brings (path, query, body, ``Last-Event-ID``) once, with msgspec.

Each input has a struct; a value that does not fit raises ``BadRequest`` naming the field
(``id``, ``limit``, ``body.timeout``, ``Last-Event-ID``...), so the client knows what to
fix, and a body over the limit ``PayloadTooLarge``. Both HTTP surfaces decode here, by one
rule with one message: the operator API with ``OPERATOR``, the runs routes with ``RUNS``;
an ``Inputs`` holds only what differs between them. A run id is checked by the flow's own
rule before anything else sees it, so a hostile id (``..``, ``/``, NUL, 10 k characters)
never reaches the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request

from ...flow import MODEL_NAME, check_run_id
from ...kernel import ActorStatus
from ...tenants import TenantId
from ._errors import BadRequest, PayloadTooLarge

T = TypeVar("T")

MAX_ID = 2**63 - 1
MAX_INT64 = 2**63 - 1
MAX_TREE_PAGE = 10_000
DEFAULT_TREE_PAGE = 1_000
MAX_STOP_TIMEOUT = 300.0

# msgspec names the bad value by its path (``... - at `$.limit```); an unknown or missing
# field is named only in the text (``Object contains unknown field `colour```).
_AT_FIELD = re.compile(r"at `\$\.([A-Za-z_][\w.\-]*)")
_NAMED_FIELD = re.compile(r"field `([^`]*)`")


@dataclass(frozen=True, slots=True)
class Inputs:
    """The decoders of one surface; the fields are what differs between the two.

    ``named_fields``: report a field msgspec names only in its text (an unknown or missing
    field) as that field; when False such an error is about the whole input (``body``,
    ``query``), as the runs surface reports it. ``event_id_digits``: the most digits a
    ``Last-Event-ID`` may have (the runs surface takes 18, so any value fits an int64).
    """

    max_body_bytes: int
    named_fields: bool = True
    event_id_digits: int = 19

    def params(
        self, items: Iterable[tuple[str, str]], kind: type[T], *, where: str, default_field: str
    ) -> T:
        """String parameters (a path or a query) into ``kind``; a repeated key is refused.

        ``where`` (``query``, ``path``) goes into the messages; ``default_field`` is the
        field of an error that names none.
        """
        values: dict[str, str] = {}
        for key, value in items:
            if key in values:
                raise BadRequest(
                    f"{where} parameter `{key}` is given more than once; give it once", field=key
                )
            values[key] = value
        try:
            return msgspec.convert(values, kind, strict=False)
        except msgspec.ValidationError as exc:
            field = self._field(exc)
            if field is None:
                raise BadRequest(f"invalid {where} parameter: {exc}", field=default_field) from None
            raise BadRequest(f"invalid {where} parameter `{field}`: {exc}", field=field) from None

    def query(self, items: Iterable[tuple[str, str]], kind: type[T]) -> T:
        """Query parameters into ``kind``; a repeated or unknown parameter is refused."""
        return self.params(items, kind, where="query", default_field="query")

    async def read_body(self, request: Request) -> bytes:
        """The request's body, read chunk by chunk and refused (413) as soon as it passes
        ``max_body_bytes``: a declared ``Content-Length`` over the limit before a byte is
        read, a chunked body at the chunk that crosses it. Never buffers more than the limit.
        """
        limit = self.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise PayloadTooLarge(
                f"request body is {int(declared)} bytes; the limit is {limit} bytes", field="body"
            )
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(
                        f"request body exceeds the limit of {limit} bytes; send a smaller body",
                        field="body",
                    )
                chunks.append(chunk)
        except ClientDisconnect:
            # An answer nobody reads (the server drops it), instead of a traceback per
            # client that hangs up mid-body.
            raise BadRequest(
                f"the client closed the connection after {size} bytes of the body", field="body"
            ) from None
        return b"".join(chunks)

    async def receive(self, request: Request, kind: type[T]) -> T:
        """``read_body`` then ``body``: the one way a route takes a JSON body."""
        return self.body(await self.read_body(request), kind)

    def body(self, body: bytes, kind: type[T]) -> T:
        """A JSON body into ``kind``; an empty body means every field takes its default."""
        if len(body) > self.max_body_bytes:
            raise PayloadTooLarge(
                f"request body is {len(body)} bytes; the limit is {self.max_body_bytes} bytes",
                field="body",
            )
        if not body.strip():
            body = b"{}"
        try:
            return msgspec.json.decode(body, type=kind)
        except msgspec.ValidationError as exc:
            # rstrip: a field such as `a.` (an unknown key) is reported as `body.a`, none
            # as `body`.
            field = ("body." + (self._field(exc) or "")).rstrip(".")
            raise BadRequest(f"invalid request body: {exc}", field=field) from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise json_error(body, exc, "body") from None

    def json_document(self, raw: bytes, field: str) -> object:
        """Any JSON document (the body of `POST /mcp`, handed on to the MCP SDK), decoded
        once here so that no decoder error can reach code that would answer a 500."""
        if len(raw) > self.max_body_bytes:
            raise PayloadTooLarge(
                f"`{field}` is {len(raw)} bytes; the limit is {self.max_body_bytes} bytes",
                field=field,
            )
        try:
            return msgspec.json.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise json_error(raw, exc, field) from None

    def json_object(self, raw: bytes, field: str) -> None:
        """Check that ``raw`` (a ``msgspec.Raw`` field such as run ``inputs``) is a JSON
        object of valid UTF-8, so a bad one is a 400 naming ``field`` here, at the
        boundary, before any actor sees it."""
        value = self.json_document(raw, field)
        if not isinstance(value, dict):
            raise BadRequest(
                f"`{field}` must be a JSON object, got {type(value).__name__}", field=field
            )

    def last_event_id(self, raw: str | None) -> int | None:
        """The SSE ``Last-Event-ID`` header: the seq of the last event the client saw (None
        when absent)."""
        if raw is None:
            return None
        text = raw.strip()
        if not text.isascii() or not text.isdigit() or len(text) > self.event_id_digits:
            raise BadRequest(
                f"invalid Last-Event-ID header {raw[:40]!r}: expected the seq of an event "
                "(a non-negative integer)",
                field="Last-Event-ID",
            )
        seq = int(text)
        if seq > MAX_INT64:
            raise BadRequest(f"Last-Event-ID {text[:40]} is out of range", field="Last-Event-ID")
        return seq

    def _field(self, error: msgspec.ValidationError) -> str | None:
        """The input field a msgspec validation error is about (``$.limit`` -> ``limit``)."""
        text = str(error)
        match = _AT_FIELD.search(text) or (_NAMED_FIELD.search(text) if self.named_fields else None)
        return match.group(1) if match else None


def json_error(
    data: bytes, error: msgspec.DecodeError | UnicodeDecodeError | RecursionError, field: str
) -> BadRequest:
    """The 400 for JSON that does not decode, naming where it broke.

    Invalid UTF-8 is located by decoding again with the bad bytes replaced: the path of the
    first key or string holding a replacement character (``body.inputs.text``). Nesting
    deeper than the decoder's recursion limit (about a thousand levels) is named as such.
    """
    if isinstance(error, RecursionError):
        return BadRequest(
            f"`{field}` nests too deeply for the decoder (about a thousand levels of arrays "
            "and objects at most); flatten it",
            field=field,
        )
    offset = _bad_utf8_at(data)
    if offset is not None:
        where = _replacement_path(data)
        at = ".".join((field, *(where or ())))
        return BadRequest(
            f"`{at}` is not valid UTF-8 (bad byte at offset {offset} of the JSON); send UTF-8 text",
            field=at,
        )
    return BadRequest(f"`{field}` is not valid JSON: {error}", field=field)


def _bad_utf8_at(data: bytes) -> int | None:
    """The offset of the first byte that is not valid UTF-8; None when all of it is."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _replacement_path(data: bytes) -> tuple[str, ...] | None:
    """The path (keys and indexes) to the first key or string that held invalid UTF-8,
    found by decoding with U+FFFD in place of the bad bytes; None when that does not
    decode either (the JSON is broken elsewhere too)."""
    try:
        value = msgspec.json.decode(data.decode("utf-8", "replace").encode("utf-8"))
    except (msgspec.DecodeError, RecursionError):
        return None
    for path, item in _walk(value):
        if isinstance(item, str) and "\ufffd" in item:
            return path
    return ()


def _walk(value: object) -> Iterator[tuple[tuple[str, ...], object]]:
    """Every key and value of a decoded JSON document with its path, without recursion."""
    stack: list[tuple[tuple[str, ...], object]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                yield (*path, key), key
                stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(((*path, str(i)), child) for i, child in reversed(list(enumerate(item))))
        else:
            yield path, item


OPERATOR = Inputs(max_body_bytes=64 * 1024)
"""The operator API: small bodies; unknown fields named."""

RUNS = Inputs(max_body_bytes=2 << 20, named_fields=False, event_id_digits=18)
"""The runs routes: run inputs may be up to 1 MiB of JSON (the rest of a body is small)."""


# -- shared by both surfaces ------------------------------------------------------------------


class NoQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Routes without query parameters refuse any: a typo is not silently ignored."""


class EmptyBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Routes whose body is empty or ``{}``."""


# -- the operator API -------------------------------------------------------------------------

ActorId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]


class ActorPath(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``/actors/{id}``: a positive integer id."""

    id: ActorId


class TreeQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``GET /system/tree?root=&status=&limit=&cursor=&node=``.

    ``root`` keeps the subtree of that actor; ``status`` keeps actors in that status;
    ``cursor`` is the ``next_cursor`` of the previous page (an actor id: pages go by id).
    """

    root: ActorId | None = None
    status: ActorStatus | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_TREE_PAGE)] = DEFAULT_TREE_PAGE
    cursor: Annotated[int, msgspec.Meta(ge=0, le=MAX_ID)] = 0
    node: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$")] | None = None
    """Another node of the cluster: its tree, asked through the cluster registry."""


class ActorQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``GET /actors/{id}?events=``: how many recent lifecycle events to include."""

    events: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 20


class StopBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Optional JSON body of ``POST /actors/{id}/stop``.

    ``timeout``: seconds the actor gets to run ``on_stop`` before it is killed (default: its
    supervisor's shutdown policy, or the system's default stop timeout).
    """

    timeout: Annotated[float, msgspec.Meta(gt=0, le=MAX_STOP_TIMEOUT)] | None = None


def decode_actor_id(raw: str) -> int:
    """The ``{id}`` path segment as an actor id."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise BadRequest(
            f"invalid actor id {raw[:40]!r} in the path: expected a positive integer", field="id"
        )
    return OPERATOR.params([("id", raw)], ActorPath, where="path", default_field="id").id


# -- the runs routes --------------------------------------------------------------------------

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
ModelName = Annotated[str, msgspec.Meta(pattern=MODEL_NAME.pattern)]
MAX_SEQ = 2**63 - 1


def _raw_object() -> msgspec.Raw:
    return msgspec.Raw(b"{}")


class PreviewBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /runs/preview``: resolve ``workflow`` with ``inputs`` (a JSON object).

    The seed's field names are aliases: ``workflow_asset_id`` for ``workflow``, and
    ``run_id``, the id the run would get (checked by the run id rule; nothing is written).
    """

    workflow: Name | None = None
    inputs: msgspec.Raw = msgspec.field(default_factory=_raw_object)
    preset: Name | None = None
    model: ModelName | None = None
    workflow_asset_id: Name | None = None
    run_id: Annotated[str, msgspec.Meta(max_length=1024)] | None = None

    def workflow_id(self) -> str:
        """The workflow named by ``workflow`` or its alias ``workflow_asset_id``."""
        named = {name for name in (self.workflow, self.workflow_asset_id) if name is not None}
        if len(named) != 1:
            why = "names two different workflows" if named else "names no workflow"
            raise BadRequest(
                f"invalid request body: it {why}; give `workflow` (or its alias "
                "`workflow_asset_id`)",
                field="body.workflow",
            )
        (workflow,) = named
        if self.run_id is not None:
            check_run_id(self.run_id)
        return workflow


class CreateBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /runs``: create a run (id generated when omitted) and start it; ``model``
    overrides every api step's model (a model asset id or the provider's model name)."""

    workflow: Name
    inputs: msgspec.Raw = msgspec.field(default_factory=_raw_object)
    id: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    preset: Name | None = None
    model: ModelName | None = None
    tenant: TenantId | None = None  # else the X-Lightflow-Tenant header, else the default


class CancelBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /runs/{id}/cancel``: an optional reason, recorded in ``run.cancelled``."""

    reason: Annotated[str, msgspec.Meta(max_length=1000)] = "cancelled by request"


class StreamQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``?after=<seq>``: start after this event sequence number (default: from the start)."""

    after: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)] | None = None


def decode_run_id(raw: str) -> str:
    """The ``{id}`` path segment, checked by the run id rule (``InvalidRunId``, invalid)."""
    return check_run_id(raw)
