"""A fake OpenAI-compatible (and Anthropic Messages) server on 127.0.0.1 for the tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


class LocalModelServer:
    """An HTTP server on 127.0.0.1 (a free port), serving in a thread while entered;
    `base_url` is its OpenAI-style ``/v1``. Subclasses give their request handler."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], *, daemon_threads: bool = False
    ) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = daemon_threads
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()  # serve_forever has returned: at once


class FakeModelServer(LocalModelServer):
    """Answers `POST /v1/chat/completions` and `POST /v1/messages`; records each request
    (path, headers, body). Requests without `key` (Bearer or x-api-key) get HTTP 401. With
    `hold`, each answer waits until that event is set (a call in flight, for kill drills)."""

    def __init__(
        self,
        key: str | None = None,
        reply: str = "ok from fake",
        hold: threading.Event | None = None,
    ) -> None:
        self.key = key
        self.reply = reply
        self.hold = hold
        self.requests: list[tuple[str, dict[str, str], dict[str, object]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                del format, args

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append((self.path, headers, body))
                if server.hold is not None:
                    server.hold.wait(120)
                given = headers.get("x-api-key") or headers.get("authorization", "")
                if server.key is not None and given.removeprefix("Bearer ") != server.key:
                    self._send(401, {"error": {"message": "bad key"}})
                elif self.path == "/v1/chat/completions":
                    self._send(
                        200,
                        {
                            "id": "c1",
                            "object": "chat.completion",
                            "model": body.get("model", ""),
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": server.reply},
                                    "finish_reason": "stop",
                                }
                            ],
                        },
                    )
                elif self.path == "/v1/messages":
                    self._send(
                        200,
                        {
                            "id": "m1",
                            "type": "message",
                            "role": "assistant",
                            "model": body.get("model", ""),
                            "content": [{"type": "text", "text": server.reply}],
                            "stop_reason": "end_turn",
                        },
                    )
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def _send(self, status: int, value: object) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the caller was killed while its call was held
                    self.close_connection = True

        super().__init__(Handler)
