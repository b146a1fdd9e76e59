"""Calling the real built-in local provider's API (/local/v1) as a key holder does, and the small
chat datasets its tests train on."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

BASE = "/local/v1"
COLORS = {"red": "apple", "yellow": "banana", "green": "lime", "purple": "grape", "orange": "carrot"}


def auth() -> dict:
    return {"Authorization": f"Bearer {settings.FINEWEB_LOCAL_API_KEY}"}


def chat_row(color: str) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "Name a food of the given color."},
            {"role": "user", "content": color},
            {"role": "assistant", "content": COLORS[color]},
        ]
    }


def preference_row(color: str) -> dict:
    return {
        "input": {"messages": [{"role": "user", "content": color}]},
        "preferred_output": [{"role": "assistant", "content": COLORS[color]}],
        "non_preferred_output": [{"role": "assistant", "content": "stone"}],
    }


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def food_rows(n: int) -> list[dict]:
    colors = list(COLORS)
    return [chat_row(colors[i % len(colors)]) for i in range(n)]


def upload(client, content: bytes, name: str = "train.jsonl", purpose: str = "fine-tune"):
    return client.post(
        f"{BASE}/files", {"file": SimpleUploadedFile(name, content), "purpose": purpose}, headers=auth()
    )


def post_json(client, path: str, body, **kwargs):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(f"{BASE}{path}", data, content_type="application/json", headers=auth(), **kwargs)


def get(client, path: str, **params):
    return client.get(f"{BASE}{path}", params, headers=auth())


def assert_openai_error(response, status: int, code: str | None = None, param: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and error["type"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


class Caller:
    """The local API as one key's holder calls it (a team's connection key, or the server's)."""

    def __init__(self, client, key: str):
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    def upload(self, content: bytes, name: str = "train.jsonl"):
        return self.client.post(
            f"{BASE}/files",
            {"file": SimpleUploadedFile(name, content), "purpose": "fine-tune"},
            headers=self.headers,
        )

    def get(self, path: str, **params):
        return self.client.get(f"{BASE}{path}", params, headers=self.headers)

    def post(self, path: str, body: dict):
        return self.client.post(
            f"{BASE}{path}", json.dumps(body), content_type="application/json", headers=self.headers
        )

    def delete(self, path: str):
        return self.client.delete(f"{BASE}{path}", headers=self.headers)

    def ids(self, path: str) -> list[str]:
        return [item["id"] for item in self.get(path).json()["data"]]
