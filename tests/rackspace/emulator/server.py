"""HTTP plumbing: a threading server on 127.0.0.1 whose handler hands every request to the emulator."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, cast

from .texts import LOOPBACK

if TYPE_CHECKING:
    from . import Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections are closed, so handler threads end
    wbufsize = -1  # headers and body leave in one write (flushed by handle_one_request) ...
    disable_nagle_algorithm = True  # ... and without waiting for the client's delayed ACK
    server_version = "sslterm-rackspace-emulator"

    def _dispatch(self) -> None:
        emulator = cast(_Server, self.server).emulator
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = emulator.handle(self.command, self.path, headers, raw)
        if reply.raw is not None:
            payload, content_type = reply.raw, "application/octet-stream"
        elif reply.body is not None:
            payload, content_type = json.dumps(reply.body).encode(), "application/json"
        else:
            payload, content_type = b"", ""
        self.send_response(reply.status)
        if content_type and not any(k.lower() == "content-type" for k in reply.headers):
            self.send_header("Content-Type", content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

    def log_message(self, format: str, *args: object) -> None:
        """Silent: nothing about requests reaches stderr (the request log in ``Emulator`` is redacted)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, emulator: Emulator) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.emulator = emulator
