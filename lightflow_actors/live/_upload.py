"""Uploads: files a browser sends over the live socket, in chunks, with progress.

A view allows an upload by keeping ``allow_upload("avatar", accept=(".png", ".jpg"))``
in the top-level field of its state named like it (``state.avatar``) and rendering
``live_file_input(state.avatar)`` inside its form (Phoenix's ``allow_upload`` and
``<.live_file_input>``). The client then sends (specs/live-wire.md §14, ADR 0087):

1. a preflight, the event ``lf:upload``, listing the files chosen (ref, name, size,
   type): the session checks each entry against the upload (``accept``,
   ``max_file_size``, ``max_entries``) and puts the entries, with their errors, in the
   state; the input is rendered again listing in ``data-lf-ready`` the refs it may send;
2. chunks, the event ``lf:chunk``: base64 data at an offset, one after the other per
   entry, each answered before the next goes. The session appends each to a temp
   file under its upload directory and sets the entry's ``progress``; the last byte
   marks the entry ``done``.

The view consumes done entries with `consume_uploaded_entries` (its temp file is
removed afterwards) or drops one with `cancel_upload`. `UploadFiles` removes the temp
file of every entry that leaves the state, and all of them when the session stops.
Nothing but one chunk is ever held in memory.
"""

from __future__ import annotations

import binascii
import contextlib
import os
import re
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, BinaryIO, Final, Literal, TypeAlias, TypeVar

import msgspec
import platformdirs

from ._errors import UploadProtocolError, ViewDefinitionError
from ._markup import Markup, escape_text

R = TypeVar("R")

UploadErrorKind: TypeAlias = Literal[
    "too_large",
    "not_accepted",
    "too_many_files",
    "transfer_failed",
    "write_failed",
    "external_failed",
]
"""Why an entry (or the whole upload, for ``too_many_files``) was refused:
``too_large`` (over ``max_file_size``), ``not_accepted`` (neither its extension nor its
type is in ``accept``), ``too_many_files`` (over ``max_entries``), ``transfer_failed``
(the client sent a chunk the session refused: wrong offset, too large, more bytes than
declared, not base64), ``write_failed`` (the server could not write the temp file),
``external_failed`` (an external upload's uploader reported a failure, or the view
gave no URL for the entry)."""

UPLOAD_EVENTS: Final = frozenset({"lf:upload", "lf:chunk", "lf:progress"})
"""The reserved event names of the upload protocol (no view event may start with ``lf:``)."""

MAX_ENTRIES_LIMIT: Final = 64
"""The most entries one upload may allow (``max_entries``)."""
MAX_CHUNK_SIZE: Final = 45_000
"""The largest ``chunk_size``: its base64 (60 000 characters) and the frame around it fit
in the default 64 KiB frame limit."""
PREFLIGHT_ENTRIES: Final = 256
"""The most files one preflight may list (more: the frame is refused)."""
_RETIRED: Final = 256  # refs of entries that left the state, remembered per session

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_UNSAFE_NAME: Final = re.compile(r"[\x00-\x1f\x7f/\\]")


class UploadEntry(msgspec.Struct, frozen=True):
    """One file of an upload, as the view sees it.

    `ref` names it on the wire (the client's choice, unique in the upload);
    `client_name`, `client_size`, `client_type` are what the browser declared (the
    name is shown, never used as a path); `uploaded` bytes have arrived, `progress` is
    their percentage; `done` once all `client_size` bytes are in the temp file at
    `path`; `errors` is empty for a valid entry. An entry of an external upload has
    the `meta` the view's ``presign_upload`` gave (its URL and whatever its uploader
    needs), no temp file, and the progress its uploader reported.
    """

    ref: str
    client_name: str
    client_size: int
    client_type: str = ""
    uploaded: int = 0
    progress: int = 0
    done: bool = False
    errors: tuple[UploadErrorKind, ...] = ()
    path: str = ""
    meta: dict[str, object] | None = None

    @property
    def valid(self) -> bool:
        return not self.errors


class Upload(msgspec.Struct, frozen=True):
    """An upload a view allows, with its current entries: keep it in the state field
    named `name` and show it with `live_file_input`.

    `accept` holds extensions (``".png"``) and MIME types (``"image/png"``,
    ``"image/*"``); None accepts any file. `errors` holds upload-wide errors
    (``too_many_files``). `auto_upload`: files go up as soon as they are chosen (and
    checked); False: they are checked at once but sent when their form is submitted
    (Phoenix's default), the submit going once they are all up. `external`: the files
    go from the browser straight to a URL the view's ``presign_upload`` gives per entry
    (a presigned cloud-storage URL; Phoenix's ``external:``), never over the socket.
    """

    name: str
    accept: tuple[str, ...] | None
    max_entries: int = 1
    max_file_size: int = 8_000_000
    chunk_size: int = 32_768
    entries: tuple[UploadEntry, ...] = ()
    errors: tuple[UploadErrorKind, ...] = ()
    auto_upload: bool = True
    external: bool = False

    def entry(self, ref: str) -> UploadEntry | None:
        for entry in self.entries:
            if entry.ref == ref:
                return entry
        return None


def allow_upload(
    name: str,
    *,
    accept: Iterable[str] | Literal["any"],
    max_entries: int = 1,
    max_file_size: int = 8_000_000,
    chunk_size: int = 32_768,
    auto_upload: bool = True,
    external: bool = False,
) -> Upload:
    """An upload named `name` (the state field that holds it, and the input's name).

    >>> allow_upload("avatar", accept=(".png", "image/jpeg")).accept
    ('.png', 'image/jpeg')
    """
    if not _NAME.match(name):
        raise ViewDefinitionError(
            f"upload name {name!r} must be an identifier (it names the state field holding it)"
        )
    specifiers: tuple[str, ...] | None
    if accept == "any":
        specifiers = None
    else:
        specifiers = tuple(a.strip().lower() for a in accept)
        bad = [a for a in specifiers if not (a.startswith(".") and len(a) > 1) and "/" not in a]
        if not specifiers or bad:
            raise ViewDefinitionError(
                f"upload {name!r}: accept takes extensions ('.png') and MIME types "
                f"('image/png', 'image/*'), or 'any'; got {bad or 'nothing'}"
            )
    if not 1 <= max_entries <= MAX_ENTRIES_LIMIT:
        raise ViewDefinitionError(
            f"upload {name!r}: max_entries must be 1..{MAX_ENTRIES_LIMIT}, got {max_entries}"
        )
    if max_file_size < 1:
        raise ViewDefinitionError(f"upload {name!r}: max_file_size must be >= 1 byte")
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ViewDefinitionError(
            f"upload {name!r}: chunk_size must be 1..{MAX_CHUNK_SIZE} bytes (a chunk and its "
            f"frame fit the 64 KiB frame limit), got {chunk_size}"
        )
    return Upload(
        name,
        specifiers,
        max_entries,
        max_file_size,
        chunk_size,
        auto_upload=auto_upload,
        external=external,
    )


def cancel_upload(upload: Upload, ref: str) -> Upload:
    """`upload` without the entry `ref` (its transfer stops, its temp file is removed).

    An unknown ref (a second click on cancel) changes nothing.
    """
    entries = tuple(e for e in upload.entries if e.ref != ref)
    if len(entries) == len(upload.entries):
        return upload
    return _recount(msgspec.structs.replace(upload, entries=entries))


def uploaded_entries(upload: Upload) -> tuple[list[UploadEntry], list[UploadEntry]]:
    """The valid entries, split into (done, still in progress)."""
    done = [e for e in upload.entries if e.valid and e.done]
    going = [e for e in upload.entries if e.valid and not e.done]
    return done, going


def consume_uploaded_entries(
    upload: Upload, consume: Callable[[Path, UploadEntry], R]
) -> tuple[list[R], Upload]:
    """Call ``consume(path, entry)`` for each done entry; return what it returned and
    the upload without those entries. Their temp files are removed afterwards (move or
    copy the file inside `consume` to keep it).

    Call it from ``handle_event`` (the form's submit), as Phoenix's
    ``consume_uploaded_entries``.
    """
    if upload.external:
        raise ViewDefinitionError(
            f"upload {upload.name!r} is external: its files are at their URLs, not in temp "
            "files; use consume_external_entries(upload, fn(meta, entry))"
        )
    done, _ = uploaded_entries(upload)
    results: list[R] = []
    for entry in done:
        path = Path(entry.path)
        try:
            results.append(consume(path, entry))
        finally:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
    gone = {e.ref for e in done}
    entries = tuple(e for e in upload.entries if e.ref not in gone)
    return results, _recount(msgspec.structs.replace(upload, entries=entries))


def consume_external_entries(
    upload: Upload, consume: Callable[[Mapping[str, object], UploadEntry], R]
) -> tuple[list[R], Upload]:
    """Phoenix's ``consume_uploaded_entries`` for an external upload: call
    ``consume(meta, entry)`` for each done entry (`meta`: what ``presign_upload`` gave
    it, e.g. the object's key); return the results and the upload without them."""
    if not upload.external:
        raise ViewDefinitionError(
            f"upload {upload.name!r} is not external: use consume_uploaded_entries"
        )
    done, _ = uploaded_entries(upload)
    results = [consume(entry.meta or {}, entry) for entry in done]
    gone = {e.ref for e in done}
    entries = tuple(e for e in upload.entries if e.ref not in gone)
    return results, _recount(msgspec.structs.replace(upload, entries=entries))


def presigned(upload: Upload, sign: Callable[[UploadEntry], Mapping[str, object] | None]) -> Upload:
    """`upload` with the `meta` of each valid entry not done and not signed yet from
    ``sign(entry)`` (a view's ``presign_upload``); None refuses that entry
    (``external_failed``). The meta must be a JSON object naming its ``uploader``."""
    entries: list[UploadEntry] = []
    for entry in upload.entries:
        if entry.valid and not entry.done and entry.meta is None:
            meta = sign(entry)
            if meta is None:
                entry = msgspec.structs.replace(entry, errors=("external_failed",))
            else:
                uploader = meta.get("uploader") if isinstance(meta, Mapping) else None
                if not isinstance(uploader, str) or not uploader:
                    raise ViewDefinitionError(
                        f"presign_upload for upload {upload.name!r} returned {meta!r}: return "
                        "a mapping with 'uploader' (the client uploader's name) and what it "
                        "needs (its 'url'), or None to refuse the entry"
                    )
                try:
                    encoded = msgspec.json.encode(dict(meta))
                except (TypeError, msgspec.EncodeError) as error:
                    raise ViewDefinitionError(
                        f"presign_upload for upload {upload.name!r}: the meta is not JSON ({error})"
                    ) from None
                entry = msgspec.structs.replace(entry, meta=msgspec.json.decode(encoded))
        entries.append(entry)
    return msgspec.structs.replace(upload, entries=tuple(entries))


_ERROR_TEXT: Final[dict[str, str]] = {
    "too_large": "The file is too large",
    "not_accepted": "This kind of file is not accepted",
    "too_many_files": "Too many files",
    "transfer_failed": "The transfer failed",
    "write_failed": "The server could not store the file",
    "external_failed": "The upload to storage failed",
}


def upload_error_text(kind: UploadErrorKind) -> str:
    """A sentence for an upload error, to show beside the entry."""
    return _ERROR_TEXT[kind]


def live_file_input(
    upload: Upload,
    *,
    id: str | None = None,
    cls: str = "",
    target: int | None = None,
) -> Markup:
    """The ``<input type="file">`` of `upload` (put it inside the view's form).

    It names the upload (``lf-upload``), its accept list, ``multiple`` when more than
    one entry is allowed, the chunk size, and in ``data-lf-ready`` the refs of valid
    entries the session waits for, which tells the client what to send. `target`: the
    ``myself`` of the live component whose state holds `upload` (its upload goes to it).
    """
    ready = " ".join(e.ref for e in upload.entries if e.valid and not e.done)
    default_id = (
        "lf-upload-" + upload.name if target is None else f"lf-upload-{target}-{upload.name}"
    )
    parts = [
        '<input type="file"',
        f' id="{escape_text(id or default_id)}"',
        f' name="{upload.name}" lf-upload="{upload.name}"',
    ]
    if target is not None:
        if isinstance(target, bool) or not isinstance(target, int) or target < 1:
            raise ValueError(f"target={target!r}: give the component's myself (an int >= 1)")
        parts.append(f' lf-target="{target}"')
    if upload.accept is not None:
        parts.append(f' accept="{escape_text(",".join(upload.accept))}"')
    if upload.max_entries > 1:
        parts.append(" multiple")
    if cls:
        parts.append(f' class="{escape_text(cls)}"')
    if not upload.auto_upload:
        parts.append(' data-lf-auto="false"')
    if upload.external:
        signed = {e.ref: e.meta for e in upload.entries if e.valid and not e.done and e.meta}
        external = msgspec.json.encode(signed).decode()
        parts.append(f' data-lf-external="{escape_text(external)}"')
    parts.append(f' data-lf-chunk="{upload.chunk_size}" data-lf-ready="{ready}">')
    return Markup("".join(parts))


def live_img_preview(upload: Upload, entry: UploadEntry, *, cls: str = "") -> Markup:
    """An ``<img>`` the client fills with the chosen file itself (a local object URL),
    before or while it is sent: Phoenix's ``live_img_preview``. Nothing goes to the
    server for it; a page without the file (another tab, a rejoin) shows no image."""
    parts = [
        f'<img id="lf-preview-{upload.name}-{escape_text(entry.ref)}"',
        f' data-lf-preview="{upload.name} {escape_text(entry.ref)}"',
        f' alt="{escape_text(entry.client_name)}"',
        ' lf-update="ignore"',  # the client owns its src (the morph keeps it)
    ]
    if cls:
        parts.append(f' class="{escape_text(cls)}"')
    parts.append(">")
    return Markup("".join(parts))


# -- the wire: what a browser sends (decoded once, with bounds) ---------------------------

EntryRef = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
UploadName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class ClientEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One file of a preflight: a ref the client chose, and what the browser says of it."""

    ref: EntryRef
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    size: Offset
    type: Annotated[str, msgspec.Meta(max_length=255)] = ""


class UploadPreflight(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The payload of ``lf:upload``: the files chosen for the upload `upload`."""

    upload: UploadName
    entries: Annotated[list[ClientEntry], msgspec.Meta(max_length=PREFLIGHT_ENTRIES)]


class UploadChunk(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The payload of ``lf:chunk``: base64 `data` for `entry`, starting at byte `offset`."""

    upload: UploadName
    entry: EntryRef
    offset: Offset
    data: Annotated[str, msgspec.Meta(max_length=4 * (MAX_CHUNK_SIZE // 3 + 1))]


Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]


class UploadProgress(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The payload of ``lf:progress``: what the uploader of an external upload reported
    for `entry` (its percent, or that it failed)."""

    upload: UploadName
    entry: EntryRef
    progress: Percent = 0
    failed: bool = False


# -- the server side: temp files ----------------------------------------------------------


class UploadFiles:
    """The temp files of one session's uploads, under `directory` (made on first use).

    None as the directory: this session takes no uploads (a preflight is refused).
    A file is open only while its entry is being sent; `reconcile` removes the file of
    every entry that left the state; `close` removes the directory.
    """

    # One per session, most of which never upload: slots, and the directory kept as the
    # text it was given until a file needs it (a Path is ~200 bytes).
    __slots__ = ("_count", "_directory", "_open", "_paths", "_retired")

    def __init__(self, directory: Path | str | None) -> None:
        self._directory = directory
        self._paths: dict[tuple[str, str], Path] = {}
        self._open: dict[tuple[str, str], BinaryIO] = {}
        self._retired: deque[tuple[str, str]] | None = None  # made by the first retirement
        self._count = 0

    @property
    def directory(self) -> Path | None:
        """The folder of this session's temp files (None: it takes no uploads)."""
        directory = self._directory
        return None if directory is None else Path(directory)

    @property
    def active(self) -> bool:
        """Whether any temp file exists (`reconcile` has work to do)."""
        return bool(self._paths)

    def preflight(self, upload: Upload, request: UploadPreflight) -> Upload:
        """`upload` with the entries of `request` (checked) in place of those not done."""
        if self._directory is None:
            raise UploadProtocolError(
                "this session takes no uploads (it has no upload directory)", "$.upload"
            )
        known = {e.ref for e in upload.entries}
        seen: set[str] = set()
        for i, client in enumerate(request.entries):
            if client.ref in known or client.ref in seen:
                raise UploadProtocolError(
                    f"entry ref {client.ref!r} is already in use", f"$.entries[{i}].ref"
                )
            seen.add(client.ref)
            name = client.name
            if _UNSAFE_NAME.search(name) or name in (".", ".."):
                raise UploadProtocolError(
                    f"file name {name!r} is not a plain file name (a path separator, a "
                    "control character, '.' or '..')",
                    f"$.entries[{i}].name",
                )
        kept = [e for e in upload.entries if e.done]
        room = upload.max_entries - sum(1 for e in kept if e.valid)
        entries = list(kept)
        for client in request.entries:
            errors: list[UploadErrorKind] = []
            if not _accepted(upload.accept, client.name, client.type):
                errors.append("not_accepted")
            if client.size > upload.max_file_size:
                errors.append("too_large")
            if not errors:
                if room <= 0:
                    errors.append("too_many_files")
                else:
                    room -= 1
            entry = UploadEntry(client.ref, client.name, client.size, client.type)
            entry = msgspec.structs.replace(entry, errors=tuple(errors))
            if entry.valid and entry.client_size == 0 and not upload.external:
                entry = self._finish(upload.name, entry, self._file(upload.name, entry.ref))
            entries.append(entry)
        return _recount(msgspec.structs.replace(upload, entries=tuple(entries)))

    def chunk(
        self, upload: Upload, chunk: UploadChunk
    ) -> tuple[Upload, UploadProtocolError | None]:
        """`upload` after `chunk`, and the problem to report (the entry then failed)."""
        if upload.external:
            return upload, UploadProtocolError(
                f"upload {upload.name!r} is external: its files go to their own URLs, "
                "not over the socket",
                "$.upload",
            )
        entry = upload.entry(chunk.entry)
        if entry is None:
            retired = self._retired
            if retired is not None and (upload.name, chunk.entry) in retired:
                return upload, None  # sent before the entry was cancelled: nothing to do
            return upload, UploadProtocolError(
                f"upload {upload.name!r} has no entry {chunk.entry!r}", "$.entry"
            )
        if not entry.valid:
            return upload, UploadProtocolError(
                f"entry {entry.ref!r} was refused ({', '.join(entry.errors)}): send nothing",
                "$.entry",
            )
        if entry.done:
            return upload, UploadProtocolError(f"entry {entry.ref!r} is complete", "$.entry")
        try:
            # strict: only the base64 alphabet with its padding (C speed, unlike
            # b64decode(validate=True), which checks with a regex first)
            data = binascii.a2b_base64(chunk.data, strict_mode=True)
        except (binascii.Error, ValueError):
            return self._fail(upload, entry, "transfer_failed"), UploadProtocolError(
                "chunk data is not base64", "$.data"
            )
        problem: UploadProtocolError | None = None
        if not data:
            problem = UploadProtocolError("an empty chunk", "$.data")
        elif len(data) > upload.chunk_size:
            problem = UploadProtocolError(
                f"a chunk of {len(data)} bytes: the chunk size is {upload.chunk_size}", "$.data"
            )
        elif chunk.offset != entry.uploaded:
            problem = UploadProtocolError(
                f"chunk at offset {chunk.offset}, expected {entry.uploaded}", "$.offset"
            )
        elif entry.uploaded + len(data) > entry.client_size:
            problem = UploadProtocolError(
                f"more bytes than the {entry.client_size} declared for entry {entry.ref!r}",
                "$.data",
            )
        if problem is not None:
            return self._fail(upload, entry, "transfer_failed"), problem
        key = (upload.name, entry.ref)
        try:
            handle = self._open.get(key)
            if handle is None:
                handle = self._open[key] = self._file(upload.name, entry.ref).open("ab")
            handle.write(data)
        except OSError:
            return self._fail(upload, entry, "write_failed"), None
        uploaded = entry.uploaded + len(data)
        entry = msgspec.structs.replace(
            entry, uploaded=uploaded, progress=uploaded * 100 // entry.client_size
        )
        if uploaded == entry.client_size:
            entry = self._finish(upload.name, entry, self._paths[key])
        return _replace_entry(upload, entry), None

    @staticmethod
    def progress(upload: Upload, report: UploadProgress) -> Upload:
        """`upload` after an external uploader's `report` (`UploadProtocolError` for one
        that is not about a signed, unfinished entry of an external upload, or that goes
        backwards)."""
        if not upload.external:
            raise UploadProtocolError(
                f"upload {upload.name!r} is not external: its bytes come as lf:chunk", "$.upload"
            )
        entry = upload.entry(report.entry)
        if entry is None or not entry.valid or entry.done or entry.meta is None:
            raise UploadProtocolError(
                f"upload {upload.name!r} has no entry {report.entry!r} in transfer", "$.entry"
            )
        if report.failed:
            failed = msgspec.structs.replace(entry, errors=("external_failed",), progress=0)
            return _replace_entry(upload, failed)
        if report.progress < entry.progress:
            raise UploadProtocolError(
                f"progress {report.progress} after {entry.progress}: progress only grows",
                "$.progress",
            )
        done = report.progress == 100
        uploaded = entry.client_size if done else entry.client_size * report.progress // 100
        moved = msgspec.structs.replace(
            entry, progress=report.progress, uploaded=uploaded, done=done
        )
        return _replace_entry(upload, moved)

    def reconcile(self, lookup: Callable[[str], object]) -> None:
        """Remove the temp file of each entry no longer in its upload; `lookup(name)` is
        the state's field `name` now."""
        uploads: dict[str, set[str]] = {}
        for key in list(self._paths):
            name, ref = key
            refs = uploads.get(name)
            if refs is None:
                value = lookup(name)
                refs = uploads[name] = (
                    {e.ref for e in value.entries} if isinstance(value, Upload) else set()
                )
            if ref not in refs:
                self._discard(key)

    def close(self) -> None:
        """Remove every temp file and the directory (the session stops)."""
        for key in list(self._paths):
            self._discard(key)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    # -- internals --------------------------------------------------------------------

    def _file(self, name: str, ref: str) -> Path:
        """A new temp file's path (created empty), named by a counter, never by the client."""
        key = (name, ref)
        path = self._paths.get(key)
        if path is None:
            directory = self.directory
            assert directory is not None
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._count += 1
            path = directory / f"{self._count}.part"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            self._paths[key] = path
        return path

    def _finish(self, name: str, entry: UploadEntry, path: Path) -> UploadEntry:
        handle = self._open.pop((name, entry.ref), None)
        if handle is not None:
            handle.close()
        return msgspec.structs.replace(entry, done=True, progress=100, path=str(path))

    def _fail(self, upload: Upload, entry: UploadEntry, kind: UploadErrorKind) -> Upload:
        self._discard((upload.name, entry.ref), retire=False)
        failed = msgspec.structs.replace(entry, errors=(kind,), uploaded=0, progress=0)
        return _replace_entry(upload, failed)

    def _discard(self, key: tuple[str, str], *, retire: bool = True) -> None:
        handle = self._open.pop(key, None)
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()
        path = self._paths.pop(key, None)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        if retire:
            if self._retired is None:
                self._retired = deque(maxlen=_RETIRED)
            self._retired.append(key)


def _accepted(accept: tuple[str, ...] | None, name: str, mime: str) -> bool:
    if accept is None:
        return True
    mime = mime.lower()
    extension = os.path.splitext(name)[1].lower()
    for specifier in accept:
        if specifier.startswith("."):
            if extension == specifier:
                return True
        elif specifier.endswith("/*"):
            if mime.startswith(specifier[:-1]):
                return True
        elif mime == specifier:
            return True
    return False


def _replace_entry(upload: Upload, entry: UploadEntry) -> Upload:
    entries = tuple(entry if e.ref == entry.ref else e for e in upload.entries)
    return msgspec.structs.replace(upload, entries=entries)


def _recount(upload: Upload) -> Upload:
    """`too_many_files` on the upload while any entry carries it."""
    too_many = any("too_many_files" in e.errors for e in upload.entries)
    errors: tuple[UploadErrorKind, ...] = ("too_many_files",) if too_many else ()
    return upload if upload.errors == errors else msgspec.structs.replace(upload, errors=errors)


def default_upload_root() -> Path:
    """``$XDG_STATE_HOME/lightflow/live/uploads`` (read at each call: tests move it)."""
    return platformdirs.user_state_path("lightflow") / "live" / "uploads"


def hub_upload_dir(root: Path, hub: str, token: int) -> Path:
    """A new folder for one hub's upload temp files, ``<hub>-<pid>-<token>`` under `root`.

    Folders left by processes that are gone (killed before their hub stopped) are
    removed first: their sessions can never come back for them.
    """
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in root.iterdir():
        parts = stale.name.rsplit("-", 2)
        if len(parts) == 3 and parts[1].isdigit() and not _alive(int(parts[1])):
            shutil.rmtree(stale, ignore_errors=True)
    while True:  # two hubs of one name in one process (a seeded RNG) take the next token
        directory = root / f"{hub}-{os.getpid()}-{token:08x}"
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            token = (token + 1) & 0xFFFFFFFF
            continue
        return directory


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive, and not ours to clean
    return True
