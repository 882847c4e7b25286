"""A tiny HTTP application for the quickstart: answers every request with the headers it received,
so one can see what the load balancer forwarded (X-Forwarded-Proto, X-Forwarded-For)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server_version = "sslterm-demo-app"

    def do_GET(self) -> None:
        body = json.dumps({"message": "hello from the demo backend", "path": self.path,
                           "headers": dict(self.headers.items())}, indent=2).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep the terminal for sslterm
        return


class DemoApp:
    """Serves on 127.0.0.1 in a background thread until ``stop``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> DemoApp:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
