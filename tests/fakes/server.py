"""What the provider fakes share: queued failures, the requests they received, the bearer check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Failure:
    status: int = 500
    body: Any = None
    headers: dict = field(default_factory=dict)
    exception: Exception | None = None
    path_contains: str = ""


class FakeServer:
    key = ""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.failures: list[Failure] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport())

    def fail_next(self, times: int = 1, **kwargs) -> None:
        self.failures.extend(Failure(**kwargs) for _ in range(times))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for i, failure in enumerate(self.failures):
            if failure.path_contains in request.url.path:
                self.failures.pop(i)
                if failure.exception is not None:
                    raise failure.exception
                body = failure.body
                if isinstance(body, str | bytes):
                    return httpx.Response(failure.status, content=body, headers=failure.headers)
                return httpx.Response(failure.status, json=body, headers=failure.headers)
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return self.error(
                401, f"Incorrect API key provided: {request.headers.get('authorization', '')[7:]}."
            )
        return self.route(request)

    def route(self, request: httpx.Request) -> httpx.Response:  # pragma: no cover - overridden
        raise NotImplementedError

    @staticmethod
    def error(status: int, message: str, *, type_: str = "invalid_request_error", code=None, headers=None):
        return httpx.Response(
            status,
            json={"error": {"message": message, "type": type_, "param": None, "code": code}},
            headers=headers or {},
        )

    def sent(self, method: str, path_end: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path.endswith(path_end)]
