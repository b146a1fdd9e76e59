"""Every page has an icon, and browsers that ask for /favicon.ico get it, not a 404."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_favicon_ico_leads_to_the_svg_icon_without_a_login():
    response = Client().get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"
    icon = Client().get("/static/favicon.svg")
    assert icon.status_code == 200 and icon["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(icon.streaming_content)  # type: ignore[attr-defined]  # a FileResponse


def test_pages_link_the_icon(alice_client):
    for page in (Client().get("/login/"), alice_client.get("/")):
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.content.decode()
