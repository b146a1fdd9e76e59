"""Pages keep the rendered parts of what no longer changes (`{% cache %}`, CACHES["template_fragments"]).

A kept fragment must be exactly what a fresh render gives, change as soon as anything it shows
does (a new event or checkpoint, a corrected metric, a job that finishes, a new version), and
never reach another team: the views check access before a template reads the cache.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from datasets_app.services import dataset_upload
from jobs.models import Job
from jobs.reports import job_reports_store
from providers.base import MetricPoint, ProviderCheckpoint, ProviderEvent
from tests.factories import chat, make_connection, make_job, make_version, upload_file
from tests.matching import search

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def empty_fragments():
    caches["template_fragments"].clear()
    yield
    caches["template_fragments"].clear()


def _report(job: Job, *, events=(), checkpoints=(), points=()) -> None:
    """Store what a provider reported, the way a sync does (jobs/reports.py)."""
    job_reports_store(
        job=job,
        events=[
            ProviderEvent(id=f"ev-{text}", created_at=timezone.now(), level="info", message=text)
            for text in events
        ],
        points=list(points),
        checkpoints=[
            ProviderCheckpoint(id=f"ck-{step}", step=step, model_name=f"ft:m:ckpt-step-{step}")
            for step in checkpoints
        ],
    )
    job.refresh_from_db()


def _get(client, path: str, **extra) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, **extra)
    assert response.status_code == 200, path
    return response.content.decode(), len(queries.captured_queries)


def _without_csrf(html: str) -> str:
    """A page without its CSRF tokens, which are masked afresh on every render."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)


def _figure(html: str) -> str:
    return search(r'<script id="curve-data" type="application/json">(.*?)</script>', html, re.S).group(1)


@pytest.fixture
def finished_job(team):
    job = make_job(
        team,
        make_version(team),
        make_connection(team),
        status=Job.Status.SUCCEEDED,
        provider_job_id="ftjob-done",
        fine_tuned_model="ft:gpt-4o-mini:done",
        total_steps=30,
        finished_at=timezone.now(),
    )
    _report(
        job,
        events=[f"Step {i}/30 <b>loss</b>" for i in range(1, 31)],
        checkpoints=[10, 20],
        points=[MetricPoint(step=s, train_loss=2.0 - s / 30, total_steps=30) for s in range(1, 31)],
    )
    return job


def test_a_kept_fragment_is_what_a_fresh_render_gives_and_saves_the_reads(alice_client, finished_job):
    page = f"/jobs/{finished_job.id}/"
    fresh, fresh_queries = _get(alice_client, page)
    kept, kept_queries = _get(alice_client, page)
    assert _without_csrf(kept) == _without_csrf(fresh)
    assert "Step 30/30 &lt;b&gt;loss&lt;/b&gt;" in kept and "<b>loss</b>" not in kept
    assert "ft:m:ckpt-step-20" in kept
    # The events, the checkpoints and the series are read only for the first render.
    assert kept_queries <= fresh_queries - 3, (fresh_queries, kept_queries)
    fragment, _ = _get(alice_client, page + "?part=activity", **HTMX)
    again, _ = _get(alice_client, page + "?part=activity", **HTMX)
    assert fragment == again and "Step 1/30" in fragment


def test_a_new_event_or_checkpoint_shows_at_once_on_a_finished_job(alice_client, finished_job):
    page = f"/jobs/{finished_job.id}/"
    before, _ = _get(alice_client, page)
    assert "The job was archived" not in before and "ckpt-step-30" not in before
    _report(finished_job, events=["The job was archived"])
    after_event, _ = _get(alice_client, page)
    assert "The job was archived" in after_event
    _report(finished_job, checkpoints=[30])
    after_checkpoint, _ = _get(alice_client, page + "?part=activity", **HTMX)
    assert "ft:m:ckpt-step-30" in after_checkpoint


def test_the_event_count_and_show_all_follow_the_stored_events(alice_client, finished_job):
    page = f"/jobs/{finished_job.id}/"
    _report(finished_job, events=[f"late {i}" for i in range(25)])  # 55 events: 50 shown
    html, _ = _get(alice_client, page)
    assert "The latest 50 of 55 events" in html
    everything, _ = _get(alice_client, page + "?events=all")
    assert "The latest" not in everything and "Step 1/30" in everything
    _report(finished_job, events=["one more"])
    assert "The latest 50 of 56 events" in _get(alice_client, page)[0]


def test_a_corrected_metric_changes_a_finished_jobs_kept_curve(alice_client, finished_job):
    page = f"/jobs/{finished_job.id}/"
    before = _figure(_get(alice_client, page)[0])
    assert _figure(_get(alice_client, page)[0]) == before  # kept
    _report(finished_job, points=[MetricPoint(step=5, train_loss=9.5)])  # a late correction
    after = _figure(_get(alice_client, page)[0])
    assert after != before
    _report(finished_job, points=[MetricPoint(step=31, train_loss=0.5)])  # a step past the last one
    assert _figure(_get(alice_client, page)[0]) != after


def test_a_job_that_finishes_shows_its_last_events_and_points_and_stops_polling(alice_client, team):
    job = make_job(
        team,
        make_version(team),
        make_connection(team),
        status=Job.Status.RUNNING,
        provider_job_id="ftjob-run",
        total_steps=20,
        started_at=timezone.now() - timedelta(minutes=3),
    )
    _report(
        job, events=["Step 10/20"], points=[MetricPoint(step=s, train_loss=3 - s / 10) for s in range(1, 11)]
    )
    page = f"/jobs/{job.id}/"
    running, _ = _get(alice_client, page)
    assert 'hx-trigger="every 2s"' in running and "Step 10 of 20" in running
    _report(
        job,
        events=["Step 20/20", "Job finished"],
        points=[MetricPoint(step=s, train_loss=2) for s in range(11, 21)],
    )
    Job.objects.filter(id=job.id).update(status=Job.Status.SUCCEEDED, finished_at=timezone.now())
    done, _ = _get(alice_client, page)
    assert "Job finished" in done and "Training finished." in done
    assert 'hx-trigger="every 2s"' not in done
    assert _figure(done) != _figure(running)
    live, _ = _get(alice_client, page, **HTMX)
    assert "Job finished" not in live and _figure(live) == _figure(done)


def test_a_kept_job_fragment_never_reaches_another_team(alice_client, charlie_client, finished_job, charlie):
    other_team = charlie.memberships.get().team
    theirs = make_job(
        other_team,
        make_version(other_team),
        make_connection(other_team),
        status=Job.Status.SUCCEEDED,
        provider_job_id="ftjob-done",  # the same provider id, on their own connection
        total_steps=30,
        finished_at=timezone.now(),
    )
    # As many events and checkpoints as alice's job: only the job tells the two keys apart.
    _report(
        theirs,
        events=[f"Charlie's step {i}" for i in range(1, 31)],
        checkpoints=[10, 20],
        points=[MetricPoint(step=s, train_loss=5.0, total_steps=30) for s in range(1, 31)],
    )
    alices, _ = _get(alice_client, f"/jobs/{finished_job.id}/")
    assert charlie_client.get(f"/jobs/{finished_job.id}/").status_code == 404
    assert charlie_client.get(f"/jobs/{finished_job.id}/?part=activity", **HTMX).status_code == 404
    charlies, _ = _get(charlie_client, f"/jobs/{theirs.id}/")
    assert "Charlie&#x27;s step 30" in charlies and "Step 30/30" not in charlies
    assert _figure(charlies) != _figure(alices)
    assert "Charlie" not in _get(alice_client, f"/jobs/{finished_job.id}/")[0]


# --- the version page -----------------------------------------------------------------------
def _version_page(version) -> str:
    return f"/datasets/{version.dataset_id}/v/{version.number}/"


def _stat(html: str, label: str) -> str:
    return search(r'<div class="value">([^<]*)</div><div class="label">' + label, html).group(1)


def test_a_versions_kept_statistics_are_a_fresh_render_and_a_new_version_has_its_own(
    alice, alice_client, team
):
    first = dataset_upload(
        team=team,
        user=alice,
        name="<script>bot</script>",
        method="supervised",
        target_model="gpt-4o-mini-2024-07-18",
        uploaded_file=upload_file([chat(i) for i in range(12)]),
    )
    fresh, fresh_queries = _get(alice_client, _version_page(first))
    kept, kept_queries = _get(alice_client, _version_page(first))
    assert _without_csrf(kept) == _without_csrf(fresh)
    assert kept_queries <= fresh_queries
    assert _stat(kept, "examples") == "12"
    assert "&lt;script&gt;bot" in kept and "<script>bot" not in kept
    second = dataset_upload(
        team=team,
        user=alice,
        name="",
        method="",
        target_model="",
        uploaded_file=upload_file(
            [chat(i, answer=f"Längere Antwort {i} " * 5) for i in range(7)] + ["{not json"]
        ),
        dataset=first.dataset,
    )
    newer, _ = _get(alice_client, _version_page(second))
    assert _stat(newer, "examples") == "8"  # the bad line counts
    assert second.report["error_count"] > 0 and _stat(newer, "errors") == str(second.report["error_count"])
    assert "line 8" in newer
    older, _ = _get(alice_client, _version_page(first))
    assert _stat(older, "examples") == "12" and _stat(older, "errors") == "0"
    assert f'href="/datasets/{first.dataset_id}/v/2/"' in older  # the list of versions is not kept


def test_a_kept_examples_page_follows_the_file_and_the_page_number(alice, alice_client, team):
    version = dataset_upload(
        team=team,
        user=alice,
        name="pages",
        method="supervised",
        target_model="gpt-4o-mini-2024-07-18",
        uploaded_file=upload_file([chat(i, user=f"Frage <i>{i}</i>?") for i in range(12)]),
    )
    examples = f"/datasets/{version.dataset_id}/v/{version.number}/examples/"
    one, _ = _get(alice_client, examples + "?page=1", **HTMX)
    two, _ = _get(alice_client, examples + "?page=2", **HTMX)
    assert "Frage &lt;i&gt;0&lt;/i&gt;?" in one and "Frage &lt;i&gt;0&lt;/i&gt;?" not in two
    assert "Frage &lt;i&gt;5&lt;/i&gt;?" in two
    assert _get(alice_client, examples + "?page=2", **HTMX)[0] == two


def test_a_kept_version_fragment_never_reaches_another_team(
    alice, alice_client, charlie, charlie_client, team
):
    mine = dataset_upload(
        team=team,
        user=alice,
        name="mine",
        method="supervised",
        target_model="gpt-4o-mini-2024-07-18",
        uploaded_file=upload_file([chat(i, answer=f"Alice's answer {i}") for i in range(9)]),
    )
    _get(alice_client, _version_page(mine))
    assert charlie_client.get(_version_page(mine)).status_code == 404
    examples = f"/datasets/{mine.dataset_id}/v/{mine.number}/examples/?page=1"
    assert charlie_client.get(examples, **HTMX).status_code == 404
    theirs = dataset_upload(
        team=charlie.memberships.get().team,
        user=charlie,
        name="theirs",
        method="supervised",
        target_model="gpt-4o-mini-2024-07-18",
        uploaded_file=upload_file([chat(i) for i in range(4)]),
    )
    html, _ = _get(charlie_client, _version_page(theirs))
    assert _stat(html, "examples") == "4" and "Alice&#x27;s answer" not in html
