"""The store's write-ahead journal: group commit, replay after a crash, checkpoints.

A group-committing `RunStore` (the server's) does not fsync each file it writes. The writes
of every batch waiting at the moment (all runs together) are encoded as one *frame* and
written into this process's journal, a segment file `<state>/wal/<pid>-<random>-<n>.wal`
preallocated with zeros, then that file alone is `fdatasync`ed: one sync for the whole
group, as a database commits. Only then are the run files written (outputs by temp +
rename, journal lines in place; manifests later, coalesced, by the store's flusher: ADR
0118), without fsync, and only then are the batches acknowledged. So a run folder only
ever shows durable state, and a `kill -9` or a power loss after the sync loses nothing:
the frame is replayed.

Frame: `<length u32 LE><crc32 u32 LE><msgpack payload>`; a frame whose length or checksum
does not match (the process died while appending it) and everything after it is ignored,
because none of it was acknowledged. Each op is idempotent on replay:

- `PutFile(path, data)`: replace the file (temp + rename);
- `PutManifest(path, sequence, data)`: replace it unless the manifest there already has
  this sequence or a later one (a direct writer, e.g. `lightflow run cancel`, moved on);
- `WriteLine(path, offset, data)`: write the journal line at its offset unless a complete
  line is already there (the same one, or a later writer's).
- `NewRun(path, files, folders)`: create the run folder (built under `staging/`, renamed
  into place); on replay, create it if it is missing, else only fill in what a power loss
  took back (a missing or unreadable file; a first event line that is not there), never
  touching a readable file (ADR 0110).
- `DropRun(path)`: remove the run folder (a run created here that its cluster refused).
- `PutCopy(path, data)`: as `PutFile`, for a file outside the run folder whose bytes the
  run journals only so that it appears after a crash (a journaled exchange's CortexFS
  files, ADR 0122); a checkpoint does not fsync it.

A *checkpoint* of a segment fsyncs every file and folder its ops wrote (but the output
cache index's entries, see `CACHE_DIR`, and `PutCopy` files), then deletes it;
the store starts a new segment when the current one passes `checkpoint_bytes` and has the
old one checkpointed off the commit path, and checkpoints everything on `close`. A journal
file whose `flock` nobody holds belongs to a process that died: the next `RunStore` opened
on that state folder replays it (segments in order), checkpoints and deletes it, before
anything reads a run.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from lightflow_actors.cortex import fsync_dir

__all__ = [
    "JOURNAL_DIR",
    "DropRun",
    "Frame",
    "NewRun",
    "PutCopy",
    "PutFile",
    "PutManifest",
    "Segment",
    "WalOp",
    "WriteAheadLog",
    "WriteLine",
]

logger = logging.getLogger("lightflow_actors.flow")

JOURNAL_DIR = "wal"
_HEADER = struct.Struct("<II")
MAX_FRAME_BYTES = 1 << 30


class PutFile(msgspec.Struct, frozen=True, array_like=True, tag="f"):
    path: str  # relative to the store root
    data: bytes


class PutManifest(msgspec.Struct, frozen=True, array_like=True, tag="m"):
    path: str
    sequence: int
    data: bytes


class WriteLine(msgspec.Struct, frozen=True, array_like=True, tag="l"):
    path: str
    offset: int
    data: bytes  # one JSON line, newline included


class NewRun(msgspec.Struct, frozen=True, array_like=True, tag="r"):
    path: str  # the run folder, relative to the store root
    files: list[tuple[str, bytes]]  # name in the folder, content
    folders: list[str]  # empty subfolders


class DropRun(msgspec.Struct, frozen=True, array_like=True, tag="d"):
    path: str


class PutCopy(msgspec.Struct, frozen=True, array_like=True, tag="c"):
    """A file the journal carries but a checkpoint leaves unsynced (ADR 0122)."""

    path: str  # relative to the store root
    data: bytes


WalOp = PutFile | PutManifest | WriteLine | NewRun | DropRun | PutCopy

_encoder = msgspec.msgpack.Encoder()
_frame_decoder = msgspec.msgpack.Decoder(list[WalOp])


class _Sequence(msgspec.Struct):
    sequence: int = 0


_sequence_decoder = msgspec.json.Decoder(_Sequence)


PREALLOCATE_BYTES = 1 << 20


CACHE_DIR = "cache"
"""The output cache index's folder (relative to the store root): its entries are not made
durable by a checkpoint (ADR 0117). A power loss may take one back, or leave it empty:
the store reads an unreadable entry as a miss, and the output is computed again."""
_CACHE_PREFIX = f"{CACHE_DIR}/"


class Segment:
    """One file of a process's journal: `<pid>-<random>-<index>.wal`, held with `flock`.

    Preallocated (zeros written and fsynced ahead of the frames, `PREALLOCATE_BYTES` at a
    time), so a commit overwrites allocated blocks and `fdatasync` has no metadata to
    journal: the file system's own journal is not committed for it, and the commit does not
    wait for other files' metadata (the manifests written meanwhile). A frame after the
    last one reads as length 0: the end.
    """

    __slots__ = (
        "allocated",
        "broken",
        "chunk",
        "dirs",
        "fd",
        "files",
        "index",
        "inflight",
        "path",
        "size",
        "synced",
    )

    def __init__(self, index: int, path: Path, fd: int, chunk: int = PREALLOCATE_BYTES) -> None:
        self.index = index
        self.chunk = chunk  # bytes preallocated at a time
        self.path = path
        self.fd = fd
        self.size = 0  # where the next frame goes
        self.synced = 0  # frames before this offset are durable
        self.broken = False  # a sync failed: frames written after it would be lost
        self.inflight = 0  # frames written whose ops are not yet applied (the store's)
        self.allocated = 0  # bytes of zeros written and fsynced
        # Files and folders written for this segment's ops (absolute paths): its
        # checkpoint fsyncs them before the segment is deleted.
        self.files: set[str] = set()
        self.dirs: set[str] = set()

    def reserve(self, end: int) -> None:
        """Make sure `[0, end)` is allocated (zeros, fsynced with the file's size)."""
        if end <= self.allocated:
            return
        new = max(end, self.allocated + self.chunk)
        _write_at(self.fd, bytes(new - self.allocated), self.allocated)
        os.fsync(self.fd)
        self.allocated = new

    def record(self, target: str, op: WalOp) -> None:
        if isinstance(op, PutCopy) or (
            isinstance(op, PutFile) and op.path.startswith(_CACHE_PREFIX)
        ):
            return  # not made durable by a checkpoint (`CACHE_DIR`, `PutCopy`)
        if isinstance(op, NewRun | DropRun):
            files, dirs = touched(Path(target), op)
            self.files.update(files)
            self.dirs.update(dirs)
        else:  # one file (the commit path: strings, not `Path`s)
            self.files.add(target)
            self.dirs.add(os.path.dirname(target))


class Frame:
    """Where `WriteAheadLog.write` put a frame: `[start, end)` of `segment`."""

    __slots__ = ("end", "segment", "start")

    def __init__(self, segment: Segment, start: int, end: int) -> None:
        self.segment = segment
        self.start = start
        self.end = end


class WriteAheadLog:
    """One process's journal under `root/wal/`: a current segment that commits append to,
    and, once it passes `checkpoint_bytes`, a new one (`rotate`); the old segment is
    checkpointed (`finish`: its files fsynced, the segment deleted) by whoever holds it.

    Not thread-safe: the store's group-commit leader is its only user at any time
    (`finish` of an old segment touches only that segment).
    """

    def __init__(self, root: Path, checkpoint_bytes: int) -> None:
        self.root = root
        self._root = os.fspath(root)
        self.checkpoint_bytes = checkpoint_bytes
        self.folder = root / JOURNAL_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            prefix=f"{os.getpid()}-", suffix=f"-{0:0{_INDEX_DIGITS}}.wal", dir=self.folder
        )
        self._stem = name[: -len(f"-{0:0{_INDEX_DIGITS}}.wal")]
        self.current = self._start(0, Path(name), fd)

    @property
    def path(self) -> Path:
        """The current segment's file."""
        return self.current.path

    def _start(self, index: int, path: Path, fd: int) -> Segment:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Preallocated a megabyte at a time, less for a small journal (tests).
            chunk = min(PREALLOCATE_BYTES, max(self.checkpoint_bytes, 64 << 10))
            segment = Segment(index, path, fd, chunk)
            segment.reserve(chunk)
            fsync_dir(self.folder)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        return segment

    def commit(self, ops: list[WalOp]) -> None:
        """Append `ops` as one frame and make it durable; on failure the journal is as
        before (the frame's bytes are zeroed again)."""
        frame = self.write(ops)
        try:
            self.sync(frame)
        except BaseException:
            self.wipe(frame, reuse=True)
            raise

    def write(self, ops: list[WalOp]) -> Frame:
        """Append `ops` as one frame, not yet durable (`sync` makes it so). A frame whose
        sync fails is wiped and its segment `broken`: frames written after it would never
        be replayed, so the next write starts a new segment first."""
        payload = _encoder.encode(ops)
        data = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        if self.current.broken:
            raise OSError(errno.EIO, "journal segment broken by a failed sync", self.path)
        segment = self.current
        start = segment.size
        try:
            segment.reserve(start + len(data) + _HEADER.size)
            _write_at(segment.fd, data, start)
        except BaseException:
            with contextlib.suppress(OSError):
                _write_at(segment.fd, bytes(len(data)), start)
            raise
        segment.size = start + len(data)
        return Frame(segment, start, start + len(data))

    def sync(self, frame: Frame) -> None:
        """Make `frame` durable: one `fdatasync` of its segment, which covers every frame
        written there before it started (so a frame already covered costs nothing). On
        failure the caller wipes the frame (`wipe`)."""
        segment = frame.segment
        if segment.synced >= frame.end:
            return
        covered = segment.size  # frames complete before the sync starts
        os.fdatasync(segment.fd)
        segment.synced = max(segment.synced, covered)

    def wipe(self, frame: Frame, *, reuse: bool = False) -> None:
        """Zero a frame that was not acknowledged (a replay stops at it) and mark its
        segment broken: frames after it would never be replayed (`due` then starts the
        next segment). `reuse` (no other writer meanwhile: `commit`): when it was the
        last frame, the next one takes its place instead."""
        segment = frame.segment
        with contextlib.suppress(OSError):
            _write_at(segment.fd, bytes(frame.end - frame.start), frame.start)
        if reuse and segment.size == frame.end:
            segment.size = frame.start
        else:
            segment.broken = True

    def apply(
        self,
        ops: Iterable[WalOp],
        *,
        replaying: bool = False,
        segment: Segment | None = None,
        fds: dict[str, int] | None = None,
    ) -> None:
        """Write `ops` into the run files (no fsync: the journal holds them), recorded for
        the checkpoint of `segment` (the one they were journaled in; default the current).
        `replaying` writes only what is not there yet (as a replay does): for ops written
        late, after another writer may have moved the run on. `fds`: journal files kept
        open by the caller, by relative path (lines go through them; one opened is added)."""
        into = segment if segment is not None else self.current
        root = self._root
        for op in ops:
            target = f"{root}/{op.path}"
            if fds is not None and isinstance(op, WriteLine) and not replaying:
                fd = fds.get(op.path)
                if fd is None:
                    fd = fds[op.path] = os.open(target, os.O_RDWR | os.O_NOFOLLOW)
                apply_line(fd, op)
            else:
                apply_op(target, op, replaying=replaying)
            into.record(target, op)

    def note(self, op: WalOp, segment: Segment | None = None) -> None:
        """Record `op` for the checkpoint of `segment` (default the current) without
        writing it yet (a manifest written later, before that checkpoint)."""
        into = segment if segment is not None else self.current
        into.record(f"{self._root}/{op.path}", op)

    @property
    def due(self) -> bool:
        """Whether to start the next segment: the current one is full, or broken."""
        return self.current.size >= self.checkpoint_bytes or self.current.broken

    def rotate(self) -> Segment:
        """Start the next segment; returns the old one, to be `finish`ed once every op in it
        is in the run files."""
        index = self.current.index + 1
        path = Path(f"{self._stem}-{index:0{_INDEX_DIGITS}}.wal")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        old, self.current = self.current, self._start(index, path, fd)
        return old

    def finish(self, segment: Segment, files: Iterable[str], dirs: Iterable[str]) -> None:
        """Checkpoint an old segment: fsync `files` and `dirs` (what its ops wrote), then
        delete it."""
        sync_all(files, dirs)
        os.unlink(segment.path)
        os.close(segment.fd)
        fsync_dir(self.folder)

    def close(self) -> None:
        """Checkpoint the current segment and delete it (every op in it written)."""
        segment = self.current
        self.finish(segment, list(segment.files), list(segment.dirs))


_INDEX_DIGITS = 6


def sync_all(files: Iterable[str], dirs: Iterable[str]) -> None:
    for name in files:
        try:
            fd = os.open(name, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for name in dirs:
        with contextlib.suppress(FileNotFoundError):
            fsync_dir(Path(name))


def touched(target: Path, op: WalOp) -> tuple[list[str], list[str]]:
    """The files and folders an op at `target` writes (made durable by a checkpoint)."""
    if isinstance(op, PutCopy) or (isinstance(op, PutFile) and op.path.startswith(_CACHE_PREFIX)):
        return [], []
    if isinstance(op, NewRun):
        files = [str(target / name) for name, _ in op.files]
        return files, [str(target), str(target.parent), *(str(target / f) for f in op.folders)]
    if isinstance(op, DropRun):
        return [], [str(target.parent)]
    return [str(target)], [str(target.parent)]


def apply_line(fd: int, op: WriteLine) -> None:
    """Write a journal line at its offset in the open file `fd`."""
    _write_at(fd, op.data, op.offset)


def apply_op(target: Path | str, op: WalOp, *, replaying: bool) -> bool:
    """Write one op to `target`; returns False when replay found it done already."""
    if isinstance(op, WriteLine):
        return _write_line(target, op, replaying)
    target = Path(target)
    if isinstance(op, NewRun):
        return _new_run(target, op, replaying)
    if isinstance(op, DropRun):
        if not target.exists():
            return False
        shutil.rmtree(target, ignore_errors=True)
        return True
    if isinstance(op, PutManifest) and replaying and _manifest_sequence(target) >= op.sequence:
        return False
    if replaying and not target.parent.is_dir():
        return False  # the run (or its outputs folder) is gone: nothing to repair
    tmp = target.with_name(f".{target.name}.wal.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            _write_at(fd, op.data, 0)
        finally:
            os.close(fd)
        swap_in(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


def swap_in(tmp: Path, target: Path) -> None:
    """Move `tmp` to `target` atomically, as `os.replace` does, then remove `tmp`.

    A new `target` (outputs, the ctx files of a journaled exchange: most of what the
    journal's apply writes) takes one `renameat2(RENAME_NOREPLACE)`. When `target`
    exists, the two are exchanged (`renameat2(RENAME_EXCHANGE)`) and the old file, now at
    `tmp`, is unlinked: ext4 treats `rename(2)` over an existing file whose new data is not
    allocated yet (written, not fsynced: what the journal's apply does) as a cue to flush
    that data first (`auto_da_alloc`), measured here at 2-5 ms a rename against 16 us for
    exchange + unlink. Readers still see the old file or the new one. Trying the exchange
    first cost a new file three calls (the failed exchange, a look at `tmp`, the rename)
    where one does (ADR 0132). Without `renameat2` (not Linux, an old libc) or where the
    file system refuses its flags: `os.replace`.
    """
    if _renameat2 is not None:
        source, destination = bytes(tmp), bytes(target)
        if _renameat2(_AT_FDCWD, source, _AT_FDCWD, destination, _RENAME_NOREPLACE) == 0:
            return
        exists = ctypes.get_errno() == errno.EEXIST
        if exists and _renameat2(_AT_FDCWD, source, _AT_FDCWD, destination, _RENAME_EXCHANGE) == 0:
            os.unlink(tmp)
            return
    os.replace(tmp, target)


STAGING = "staging"


def _new_run(target: Path, op: NewRun, replaying: bool) -> bool:
    """Create the run folder `target`: built in `<root>/staging/`, renamed into place, no
    fsync (the journal holds it). `FileExistsError` when the id is taken (not replaying).
    Replaying onto an existing folder fills in only what is missing or unreadable."""
    if replaying and target.is_dir():
        return _repair_run(target, op)
    staging_root = target.parent.parent / STAGING
    staging_root.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="run-", dir=staging_root))
    try:
        for folder in op.folders:
            (staging / folder).mkdir()
        for name, data in op.files:
            _put_new(staging / name, data)
        try:
            # rename(2) refuses a non-empty target: of two creators one wins.
            os.rename(staging, target)
        except OSError:
            if target.exists():
                if replaying:
                    return _repair_run(target, op)
                raise FileExistsError(errno.EEXIST, "run exists", str(target)) from None
            raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return True


def _repair_run(target: Path, op: NewRun) -> bool:
    """What a power loss may have taken from a run created without fsync: a file missing,
    empty or torn, its first event line. A readable file (this creation's or a later
    writer's) is left as it is."""
    repaired = False
    for folder in op.folders:
        if not (target / folder).is_dir():
            (target / folder).mkdir(parents=True, exist_ok=True)
            repaired = True
    for name, data in op.files:
        path = target / name
        if name.endswith(".jsonl"):
            if not path.exists():
                _put_new(path, b"")
                repaired = True
            if data:
                repaired |= _write_line(path, WriteLine("", 0, data), True)
        elif not _readable_json(path):
            tmp = target / f".{name}.wal.tmp"
            _put_new(tmp, data, exclusive=False)
            swap_in(tmp, path)
            repaired = True
    return repaired


def _readable_json(path: Path) -> bool:
    try:
        msgspec.json.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return False
    return True


def _put_new(path: Path, data: bytes, *, exclusive: bool = True) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o644)
    try:
        _write_at(fd, data, 0)
    finally:
        os.close(fd)


def _write_line(target: Path | str, op: WriteLine, replaying: bool) -> bool:
    try:
        fd = os.open(target, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        if replaying:
            return False
        raise
    try:
        if replaying and _line_is_there(os.pread(fd, len(op.data), op.offset), op.data):
            return False
        _write_at(fd, op.data, op.offset)
    finally:
        os.close(fd)
    return True


def _line_is_there(there: bytes, line: bytes) -> bool:
    """Whether the bytes at a line's offset already hold it, or a later writer's complete
    line (a direct writer moved on); zeros or a torn prefix are not a line."""
    if there == line:
        return True
    end = there.find(b"\n")
    return end > 0 and b"\0" not in there[:end]


def _manifest_sequence(path: Path) -> int:
    try:
        return _sequence_decoder.decode(path.read_bytes()).sequence
    except (OSError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return -1  # missing or torn: the journal's copy wins


def _write_at(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def frames(data: bytes) -> Iterator[list[WalOp]]:
    """The complete frames of a journal file, in order; stops at the first torn one."""
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        payload = data[start : start + length]
        if (
            not 0 < length <= MAX_FRAME_BYTES
            or len(payload) != length
            or zlib.crc32(payload) != crc
        ):
            return
        try:
            ops = _frame_decoder.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return
        yield ops
        pos = start + length


def _inside(root: Path, relative: str) -> Path | None:
    """The op's target under `root`, or None (logged) when it names a path outside it:
    a checksummed frame never does unless someone wrote it on purpose."""
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        logger.warning("journal op names %r, outside the state folder %s: skipped", relative, root)
        return None
    return root / path


def replay_orphans(root: Path) -> int:
    """Replay, checkpoint and delete the journal files of processes that died; returns
    how many ops were (re)applied. A journal file another process holds is left alone."""
    folder = root / JOURNAL_DIR
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.name.endswith(".wal"))
    except FileNotFoundError:
        return 0
    applied = 0
    for name in names:
        path = folder / name
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue  # replayed by another process meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process's journal
            applied += _replay(root, fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        finally:
            os.close(fd)
    if names:
        fsync_dir(folder)
    return applied


def _replay(root: Path, fd: int) -> int:
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0) if size else b""
    files: set[str] = set()
    dirs: set[str] = set()
    applied = 0
    for ops in frames(data):
        for op in ops:
            target = _inside(root, op.path)
            if target is not None and apply_op(target, op, replaying=True):
                applied += 1
                written, folders = touched(target, op)
                files.update(written)
                dirs.update(folders)
    sync_all(files, dirs)
    return applied
