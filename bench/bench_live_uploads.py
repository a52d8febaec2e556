"""Live uploads benchmark: throughput, wire bytes and memory of a chunked upload.

1. Throughput of an 8 MB file sent as ``lf:chunk`` events of 32 KiB through the real
   transport and session actors (an in-memory socket; the session appends each chunk to
   its temp file, updates the entry's progress, renders and diffs the view, and answers
   before the next chunk goes, as the browser client does). Baseline: the work no upload
   protocol can avoid, in the same run: base64-decoding the same chunks and appending them
   to a file.
2. Bytes on the wire per byte of file (both directions: chunk frames, answers, acks).
3. Peak Python memory during the upload (tracemalloc) against the file's size: chunks
   are written as they arrive, so the peak stays near a few chunks, whatever the file.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import tempfile
import time
import tracemalloc
from pathlib import Path

import msgspec

from bench._report import row
from lightflow_actors.live import (
    LiveConfig,
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    Upload,
    allow_upload,
    keyed,
    live_file_input,
)
from lightflow_actors.testing.live import UploadFile, live_test

SIZE = 8 * 1024 * 1024
CHUNK = 32_768


class Files(msgspec.Struct, frozen=True):
    doc: Upload


ENTRY = Template('<li id="e-{ref}">{name} <progress value="{progress}" max="100"></progress></li>')
PAGE = Template('<form id="f">{input}</form><ul>{entries}</ul>')


class Drop(LiveView[Files, None]):
    def mount(self, params: Params, session: SessionInfo) -> Files:
        return Files(allow_upload("doc", accept="any", max_file_size=SIZE, chunk_size=CHUNK))

    def render(self, state: Files) -> Rendered:
        entries = [
            (e.ref, ENTRY(ref=e.ref, name=e.client_name, progress=e.progress))
            for e in state.doc.entries
        ]
        return PAGE(input=live_file_input(state.doc), entries=keyed(ENTRY, entries))


async def upload(content: bytes, folder: Path) -> tuple[float, int]:
    """Seconds to upload `content`, and the bytes both ways on the wire."""
    # A server tick every 17 ms acks often, so the Python client (which keeps what it sent
    # until acked) does not weigh on the memory figure; the browser keeps nothing.
    config = LiveConfig(upload_dir=str(folder), heartbeat_interval=0.05, heartbeat_timeout=5)
    async with live_test({"drop": Drop()}, config=config) as live:
        view = await live.mount("drop")
        doc = view.file_input("#f", "doc", [UploadFile("big.bin", content)])
        before = view.socket.bytes_sent
        started = time.perf_counter()
        await view.render_upload(doc, "big.bin")
        elapsed = time.perf_counter() - started
        assert "100" in view.html()
        # What the client sent: each chunk's frame (JSON around base64) plus its acks.
        sent = sum(
            len(base64.b64encode(content[i : i + CHUNK])) + 110 for i in range(0, SIZE, CHUNK)
        )
        return elapsed, view.socket.bytes_sent - before + sent


def baseline(content: bytes, folder: Path) -> float:
    """Decode the same base64 chunks and append them to a file."""
    chunks = [base64.b64encode(content[i : i + CHUNK]).decode() for i in range(0, SIZE, CHUNK)]
    started = time.perf_counter()
    with open(folder / "baseline.bin", "ab") as out:
        for text in chunks:
            out.write(binascii.a2b_base64(text, strict_mode=True))
    return time.perf_counter() - started


def main() -> None:
    content = bytes(range(256)) * (SIZE // 256)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        best = min(asyncio.run(upload(content, folder))[0] for _ in range(3))
        base = min(baseline(content, folder) for _ in range(3))
        row(
            "upload 8 MB in 32 KiB chunks (MB/s)",
            SIZE / best / 1e6,
            "MB/s",
            SIZE / base / 1e6,
            "base64-decode + append",
        )
        _, wire = asyncio.run(upload(content, folder))
        row("wire bytes per 100 bytes of file", 100 * wire / SIZE, "B", 100, "the file")
        tracemalloc.start()
        asyncio.run(upload(content, folder))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        row("peak Python memory during the upload (KB)", peak / 1024, "KB", SIZE / 1024, "the file")


if __name__ == "__main__":
    main()
