"""permessage-deflate (RFC 7692) with small zlib contexts, for Hypercorn's WebSockets.

A live session's socket is idle most of the time but keeps two zlib contexts for its
whole life (context takeover). With zlib's defaults (window 2^15, memLevel 8) the
compressor alone reserves ~256 KB and touches ~100 KB once used: 150 KB of RSS per idle
counter session over a real socket, most of it zlib. Live frames are small (a patch
is tens of bytes; a render repeats short row shapes), so a 512-byte window loses
little (bench_live_transport: a counter click 43 B on the wire with it, 42 B with
2 KB windows; an idle session 55 KB of RSS with deflate instead of 150 KB):

- the server's compressor uses ``WINDOW_BITS`` and ``MEM_LEVEL``: its own choice, never
  negotiated (any inflater reads a stream made with a smaller window);
- the client's window is capped by answering ``client_max_window_bits=WINDOW_BITS``
  when the browser offers that parameter (browsers do), so the server's inflater needs
  2^``WINDOW_BITS`` bytes instead of 32 KB.

Hypercorn builds ``PerMessageDeflate()`` itself with no options, so `bound_deflate`
replaces the class its WebSocket handshake uses (process-wide, idempotent; `LiveRoutes`
calls it). The wire stays standard permessage-deflate.
"""

from __future__ import annotations

import zlib
from typing import Final

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameDecoder, FrameProtocol, Opcode, RsvBits

WINDOW_BITS: Final = 9
"""512-byte windows: zlib's smallest for raw deflate (it turns 8 into 9)."""
MEM_LEVEL: Final = 1
"""zlib memLevel for the server's compressor: 1 KB of hash and pending buffers, not 256 KB."""


class BoundedDeflate(PerMessageDeflate):
    """`PerMessageDeflate` whose zlib contexts stay small (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(client_max_window_bits=WINDOW_BITS)

    def _parse_params(self, params: str) -> tuple[int | None, int | None]:
        client_bits, server_bits = super()._parse_params(params)
        if client_bits is not None:  # an offer may name 15: answer with our smaller cap
            client_bits = min(client_bits, WINDOW_BITS)
        return client_bits, server_bits

    def frame_outbound(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        data: bytes,
        fin: bool,
    ) -> tuple[RsvBits, bytes]:
        if self._compressor is None and not proto.client and self._compressible_opcode(opcode):
            bits = min(WINDOW_BITS, self.server_max_window_bits)
            self._compressor = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -bits, MEM_LEVEL
            )
        return super().frame_outbound(proto, opcode, rsv, data, fin)


def bound_deflate() -> None:
    """Make Hypercorn's WebSocket handshakes offer `BoundedDeflate` (idempotent)."""
    from hypercorn.protocol import ws_stream

    setattr(ws_stream, "PerMessageDeflate", BoundedDeflate)  # noqa: B010
