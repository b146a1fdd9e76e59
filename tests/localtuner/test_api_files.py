from __future__ import annotations

import pytest

from localtuner.models import LocalFile
from tests.fakes.local_api import BASE, assert_openai_error, auth, food_rows, get, jsonl, upload

pytestmark = pytest.mark.django_db


def test_a_request_without_a_key_is_a_401_in_openais_error_shape(client):
    error = assert_openai_error(client.get(f"{BASE}/files"), 401, code="invalid_api_key")
    assert "API key" in error["message"]


def test_a_wrong_key_is_a_401_and_the_key_is_never_echoed(client):
    response = client.get(f"{BASE}/models", headers={"Authorization": "Bearer sk-wrong-key-123"})
    assert_openai_error(response, 401, code="invalid_api_key")
    assert b"sk-wrong-key-123" not in response.content


def test_the_api_needs_no_login_and_no_csrf_token(client):
    client.enforce_csrf_checks = True
    response = upload(client, jsonl(food_rows(3)))
    assert response.status_code == 200, response.content


def test_an_upload_returns_openais_file_object_and_stores_the_bytes_once(client):
    content = jsonl(food_rows(3))
    first = upload(client, content).json()
    second = upload(client, content, name="again.jsonl").json()
    assert first["object"] == "file" and first["id"].startswith("file-")
    assert first["bytes"] == len(content) and first["filename"] == "train.jsonl"
    assert first["purpose"] == "fine-tune" and first["status"] == "processed"
    assert isinstance(first["created_at"], int)
    assert first["id"] != second["id"]
    rows = LocalFile.objects.filter(public_id__in=[first["id"], second["id"]])
    assert len({row.sha256 for row in rows}) == 1
    assert rows[0].path.read_bytes() == content


def test_a_file_can_be_listed_retrieved_downloaded_and_deleted(client):
    content = jsonl(food_rows(2))
    file_id = upload(client, content).json()["id"]
    listing = get(client, "/files").json()
    assert listing["object"] == "list" and [f["id"] for f in listing["data"]] == [file_id]
    assert listing["has_more"] is False and listing["first_id"] == listing["last_id"] == file_id
    assert get(client, f"/files/{file_id}").json()["id"] == file_id
    download = get(client, f"/files/{file_id}/content")
    assert download.status_code == 200 and b"".join(download.streaming_content) == content
    path = LocalFile.objects.get(public_id=file_id).path
    deleted = client.delete(f"{BASE}/files/{file_id}", headers=auth())
    assert deleted.json() == {"id": file_id, "object": "file", "deleted": True}
    assert not path.exists()
    assert_openai_error(get(client, f"/files/{file_id}"), 404)


def test_deleting_one_of_two_identical_uploads_keeps_the_bytes_of_the_other(client):
    content = jsonl(food_rows(4))
    a = upload(client, content).json()["id"]
    b = upload(client, content).json()["id"]
    client.delete(f"{BASE}/files/{a}", headers=auth())
    assert get(client, f"/files/{b}/content").status_code == 200
    assert LocalFile.objects.get(public_id=b).path.read_bytes() == content


def test_the_file_list_pages_with_after_and_limit_in_both_orders(client):
    ids = [upload(client, jsonl(food_rows(i + 1))).json()["id"] for i in range(3)]
    first = get(client, "/files", limit=2).json()
    assert [f["id"] for f in first["data"]] == [ids[2], ids[1]] and first["has_more"] is True
    rest = get(client, "/files", limit=2, after=first["last_id"]).json()
    assert [f["id"] for f in rest["data"]] == [ids[0]] and rest["has_more"] is False
    ascending = get(client, "/files", order="asc").json()
    assert [f["id"] for f in ascending["data"]] == ids
    assert get(client, "/files", purpose="fine-tune-results").json()["data"] == []


@pytest.mark.parametrize(
    ("name", "purpose", "param"),
    [
        ("train.jsonl", "assistants", "purpose"),
        ("train.csv", "fine-tune", "file"),
        ("train.jsonl", "", "purpose"),
    ],
)
def test_an_upload_with_a_wrong_purpose_or_file_type_is_a_400(client, name, purpose, param):
    assert_openai_error(upload(client, b'{"a": 1}\n', name=name, purpose=purpose), 400, param=param)
    assert not LocalFile.objects.exists()


def test_an_empty_upload_or_one_without_a_file_is_a_400(client):
    assert_openai_error(upload(client, b""), 400, param="file")
    response = client.post(f"{BASE}/files", {"purpose": "fine-tune"}, headers=auth())
    assert_openai_error(response, 400, param="file")
    response = client.post(f"{BASE}/files", b"{}", content_type="application/json", headers=auth())
    assert_openai_error(response, 400)


def test_an_upload_over_the_limit_is_a_413_and_leaves_nothing_behind(client, settings):
    settings.FINEWEB_LOCAL_MAX_FILE_BYTES = 1000
    error = assert_openai_error(upload(client, b"x" * 5000), 413, code="file_too_large")
    assert "1000" in error["message"]
    assert not LocalFile.objects.exists()
    # a body far over the limit is refused from its Content-Length, before it is read
    response = client.post(
        f"{BASE}/files", b"x" * 200_000, content_type="multipart/form-data; boundary=x", headers=auth()
    )
    assert_openai_error(response, 413, code="request_too_large")


def test_unknown_file_ids_are_404s(client):
    for path in ("/files/file-nope", "/files/file-nope/content"):
        assert_openai_error(get(client, path), 404, param="id")
    assert_openai_error(client.delete(f"{BASE}/files/file-nope", headers=auth()), 404)


def test_a_wrong_method_is_a_405_in_openais_shape(client):
    response = client.put(f"{BASE}/files", b"", headers=auth())
    assert_openai_error(response, 405, code="method_not_allowed")
    assert response["Allow"] == "GET, POST"
