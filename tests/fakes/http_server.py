"""Serve a transport-level provider fake (tests/fakes/openai.py) over real HTTP on loopback.

A Celery worker is another process: it can't share an httpx.MockTransport with the test. This
puts the same fake behind a tiny threaded HTTP server, so a worker reaches "OpenAI" at
http://127.0.0.1:<port>/v1 through an OpenAI-compatible connection, and the test can still read
what the fake received and hold a request open (to kill the worker in the middle of it).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class FakeHTTPServer:
    def __init__(self, fake):
        self.fake = fake
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                request = httpx.Request(
                    self.command,
                    f"http://{self.headers.get('host')}{self.path}",
                    headers=list(self.headers.items()),
                    content=body,
                )
                response = outer.handle(request)
                content = response.read()
                try:
                    self.send_response(response.status_code)
                    for key, value in response.headers.items():
                        if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                            self.send_header(key, value)
                    self.send_header("content-length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client (a killed worker) is gone

            do_GET = do_POST = do_DELETE = do_PUT = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, request: httpx.Request) -> httpx.Response:
        return self.fake.handle(request)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
