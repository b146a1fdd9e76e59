"""Tiny servers on loopback for the network tests: one that answers a canned HTTP reply, one that
accepts and never replies, one that trickles its answer a byte at a time. Each counts the
connections it accepted, so a test can assert that a refusal happened before any connect."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class LoopbackServer:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.accepted = 0
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._clients: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        for client in self._clients:
            client.close()
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._clients.append(client)
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _read_request(self, client: socket.socket) -> bytes:
        client.settimeout(5)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = client.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        self.requests.append(data)
        return data

    def _handle(self, client: socket.socket) -> None:
        raise NotImplementedError


class CannedServer(LoopbackServer):
    """Answers every request with one status, content type and body."""

    def __init__(self, status: int = 200, body: bytes = b"{}", content_type: str = "application/json"):
        super().__init__()
        self.status, self.body, self.content_type = status, body, content_type

    def _handle(self, client: socket.socket) -> None:
        self._read_request(client)
        head = (
            f"HTTP/1.1 {self.status} X\r\nContent-Type: {self.content_type}\r\n"
            f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        with contextlib.suppress(OSError):
            client.sendall(head + self.body)
        client.close()


class SilentServer(LoopbackServer):
    """Accepts the connection, reads the request, and never answers."""

    def _handle(self, client: socket.socket) -> None:
        self._read_request(client)
        self._stop.wait(120)


class TrickleServer(LoopbackServer):
    """Sends its headers, then one byte of a huge body every half second: each read answers in
    time, so only a total deadline ends the request."""

    def _handle(self, client: socket.socket) -> None:
        self._read_request(client)
        try:
            client.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            )
            while not self._stop.is_set():
                client.sendall(b" ")
                time.sleep(0.5)
        except OSError:
            pass
