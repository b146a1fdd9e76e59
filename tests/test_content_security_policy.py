"""Every page is sent with the Content-Security-Policy, and none needs what the policy forbids: no
<script> without src (JSON data blocks aside), no on* handler attributes, no javascript: links.
Static files carry X-Frame-Options too. (tests/e2e/test_csp_browser.py runs them in Chromium.)"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client
from django.utils import timezone

from datasets_app.models import DatasetVersion
from jobs.models import Job, MetricPoint
from providers.models import Connection
from tests.factories import good_lines, make_job, make_version, upload_file

pytestmark = pytest.mark.django_db

NOT_FOUND = "/jobs/999999/"  # the 404 page


class InlineCode(HTMLParser):
    """Collects what a strict policy would block in a page's HTML."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in ("href", "action", "src") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            data_block = attrs.get("type") == "application/json"
            if not attrs.get("src") and not data_block:
                self.found.append(f"<script {attrs}> without src")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


@pytest.fixture
def pages(alice_client, team):
    """The main pages of every app, with data on them (a histogram, curves, polling)."""
    alice_client.post(
        "/datasets/upload/",
        {
            "file": upload_file(good_lines(12)),
            "name": "Support",
            "method": "supervised",
            "target_model": "gpt-4o-mini-2024-07-18",
        },
    )
    uploaded = DatasetVersion.objects.get(dataset__name="Support")
    version = make_version(team, name="frozen-set")
    local = Connection.objects.get(team=team, kind="local")
    job = make_job(
        team,
        version,
        local,
        status=Job.Status.RUNNING,
        base_model="fineweb-tiny",
        provider_job_id="ftjob-1",
        total_steps=10,
        started_at=timezone.now(),
    )
    MetricPoint.objects.bulk_create(
        [MetricPoint(job=job, step=s, train_loss=2 - s / 10) for s in range(1, 6)]
    )
    base = f"/datasets/{uploaded.dataset_id}/v/1/"
    from compare.services import ColumnSpec, conversation_create

    conversation = conversation_create(
        team=team,
        user=None,
        columns=[ColumnSpec(connection=local, model="fineweb-tiny")] * 2,
        message="Hallo",
        blind=True,
    )
    return [
        "/",
        "/datasets/",
        "/datasets/upload/",
        f"/datasets/{uploaded.dataset_id}/upload/",
        base,
        base + "examples/",
        "/jobs/",
        f"/jobs/{job.id}/",
        f"/jobs/curves/?ids={job.id}",
        f"/jobs/new/?version={version.id}&connection={local.id}",
        "/connections/",
        "/connections/add/",
        f"/connections/{local.id}/edit/",
        f"/compare/?job={job.id}",
        f"/compare/{conversation.id}/",
        "/compare/history/",
        "/compare/leaderboard/",
        NOT_FOUND,
    ]


def directives(policy: str) -> dict[str, str]:
    """The header's directives by name (django-csp does not keep their order from one process to
    the next, so the last one, without its ';', can be any of them)."""
    parts = (part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def test_every_page_carries_the_policy_and_no_inline_code(alice_client, pages):
    for url in pages:
        response = alice_client.get(url)
        assert response.status_code == (404 if url == NOT_FOUND else 200), url
        policy = directives(response["Content-Security-Policy"])
        assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'", url
        assert policy["frame-ancestors"] == "'none'", url
        assert inline_code(response.content.decode()) == [], url


def test_htmx_fragments_carry_no_inline_code_either(alice_client, pages):
    job_page = next(
        url for url in pages if url.startswith("/jobs/") and url.rstrip("/").split("/")[-1].isdigit()
    )
    for url in (job_page, job_page + "?part=activity", "/jobs/?status=running"):
        response = alice_client.get(url, headers={"HX-Request": "true"})
        assert response.status_code == 200, url
        assert inline_code(response.content.decode()) == [], url


def test_the_login_and_no_team_pages_carry_the_policy(client, django_user_model):
    for response in (client.get("/login/"), client.get("/admin/login/")):
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert inline_code(response.content.decode()) == []
    lonely = django_user_model.objects.create_user("lonely", password="x" * 12)
    lonely_client = Client()
    lonely_client.force_login(lonely)
    response = lonely_client.get("/")
    assert response.status_code == 403 and "Content-Security-Policy" in response


def test_htmx_is_told_not_to_inject_its_indicator_styles(alice_client):
    html = alice_client.get("/").content.decode()
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false' in html


def test_static_files_cannot_be_framed_either(client):
    response = client.get("/static/js/app.js")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
