"""The upload page end to end: the form, the upload over htmx and as a plain post, refusals, scoping."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client
from django.urls import reverse

from datasets_app.models import Blob, Dataset, DatasetVersion
from tests.factories import chat, good_lines, jsonl, upload_file

URL = "/datasets/upload/"


def post(client, content, name="support.jsonl", htmx=False, **fields):
    data = {
        "file": upload_file(content, name),
        "name": "Support",
        "method": "supervised",
        "target_model": "gpt-4o-mini-2024-07-18",
        **fields,
    }
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(URL, data, headers=headers)


def test_the_upload_page_has_a_drop_zone_a_progress_bar_and_the_fields(alice_client):
    body = alice_client.get(URL).content.decode()
    assert 'class="dropzone"' in body and 'role="progressbar"' in body
    assert 'name="method"' in body and "DPO (preference pairs)" in body
    assert 'name="target_model"' in body and "gpt-4.1-mini-2025-04-14" in body
    assert "datasets/upload.js" in body
    # htmx sends the form (with its progress events); without JavaScript it is a plain multipart post.
    assert 'hx-post="/datasets/upload/"' in body and 'hx-encoding="multipart/form-data"' in body
    assert 'method="post" enctype="multipart/form-data" action="/datasets/upload/"' in body


def test_a_good_file_is_uploaded_and_the_browser_is_sent_to_its_version_page(alice_client, team):
    response = post(alice_client, good_lines(12))
    version = DatasetVersion.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/datasets/{version.dataset_id}/v/1/"
    assert version.dataset.team == team and version.status == "valid"


def test_the_htmx_upload_is_sent_to_the_version_page_by_hx_redirect(alice_client):
    response = post(alice_client, good_lines(12), htmx=True)
    version = DatasetVersion.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/datasets/{version.dataset_id}/v/1/"


def test_a_refused_file_comes_back_as_the_form_with_the_reason_and_nothing_is_stored(alice_client):
    response = post(alice_client, json.dumps(good_lines(12)).encode(), htmx=True)
    assert response.status_code == 400
    html = response.content.decode()
    assert "one JSON array" in html
    assert html.lstrip().startswith('<form class="upload"') and "<html" not in html  # the form partial only
    assert not Dataset.objects.exists()


def test_a_file_over_the_limit_sent_by_htmx_gets_the_form_with_the_reason(alice_client, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 2000
    response = post(alice_client, jsonl([chat(i) for i in range(40)]), htmx=True)
    assert response.status_code == 413
    html = response.content.decode()
    assert "larger than the limit of 2,000 bytes" in html and "<html" not in html
    assert not Dataset.objects.exists()


def test_an_empty_file_gets_a_clear_message(alice_client):
    response = post(alice_client, b"")
    assert response.status_code == 400
    assert "The file is empty" in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_file_over_the_limit_is_refused_while_streaming_with_nothing_stored(alice_client, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 2000
    blobs = Blob.objects.count()
    response = post(alice_client, jsonl([chat(i) for i in range(40)]))
    assert response.status_code == 413
    assert "larger than the limit of 2,000 bytes" in response.content.decode()
    assert not Dataset.objects.exists() and Blob.objects.count() == blobs


def test_a_request_announcing_too_many_bytes_is_refused_before_reading_the_body(alice, settings):
    from django.test import RequestFactory

    from datasets_app.views import dataset_upload_view

    settings.DATASET_MAX_UPLOAD_BYTES = 1000
    # Any: the test sets what the middleware would, and swaps the body's read() for a trap.
    request: Any = RequestFactory().post(
        URL, data=b"", content_type="multipart/form-data; boundary=x", CONTENT_LENGTH=str(10 * 1024 * 1024)
    )
    request.user = alice
    request.team = alice.memberships.get().team
    request.membership = alice.memberships.get()
    request.htmx = False
    request._dont_enforce_csrf_checks = True

    def unread(*args):
        raise AssertionError("the body was read")

    request._stream.read = unread
    response = dataset_upload_view(request)
    assert response.status_code == 413


def test_a_bad_file_is_stored_as_a_version_that_lists_its_line_errors(alice_client):
    lines = good_lines(12)
    lines[6] = {"messages": [{"role": "user", "content": "x"}]}
    response = post(alice_client, lines)
    page = alice_client.get(response["Location"]).content.decode()
    assert "line 7: the last message must come from the assistant" in page
    assert "Has errors" in page


def test_a_new_version_is_uploaded_from_the_dataset(alice_client):
    post(alice_client, good_lines(9))
    dataset = Dataset.objects.get()
    response = alice_client.post(f"/datasets/{dataset.id}/upload/", {"file": upload_file(good_lines(12))})
    assert response.status_code == 302 and response["Location"] == f"/datasets/{dataset.id}/v/2/"
    assert list(dataset.versions.values_list("number", "status")) == [(2, "valid"), (1, "invalid")]


def test_charlie_cannot_upload_a_version_into_alices_dataset(alice_client, charlie_client):
    post(alice_client, good_lines(12))
    dataset = Dataset.objects.get()
    response = charlie_client.post(f"/datasets/{dataset.id}/upload/", {"file": upload_file(good_lines(12))})
    assert response.status_code == 404
    assert dataset.versions.count() == 1


def test_the_upload_needs_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = post(client, good_lines(12))
    assert response.status_code == 403
    assert not Dataset.objects.exists()


def test_an_anonymous_visitor_is_sent_to_log_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
