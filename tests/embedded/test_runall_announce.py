"""`make run` prints its URL only once the web server answers a request, not when the port merely
accepts connections: uvicorn with several workers binds the port in its parent while the workers
still load Django (10 s and more on a busy machine), and the first page then hung past the
browser test's 20-second timeout on the 2-core test machine."""

from __future__ import annotations

import http.server
import socket
import threading

from fineweb.accounts.management.commands.runall import _serves


def test_a_port_that_accepts_but_does_not_answer_is_not_yet_serving():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(
            8
        )  # the kernel accepts connections; nobody reads them, as while uvicorn's workers load
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass  # the port "answers"
        assert _serves("127.0.0.1", port, timeout=0.5) is False


def test_a_server_that_answers_any_status_is_serving_and_a_closed_port_is_not():
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        assert _serves("127.0.0.1", port, timeout=5) is True
    finally:
        server.shutdown()
        server.server_close()
    assert _serves("127.0.0.1", port, timeout=0.5) is False
