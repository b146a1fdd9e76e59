from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from jobs.models import Job, JobEvent, MetricPoint
from tests.factories import make_job, make_version
from tests.matching import search

pytestmark = pytest.mark.django_db


def figure_of(html: str) -> dict:
    """The figure a page hands to static/js/figures.js through `json_script`."""
    return json.loads(
        search(r'<script id="curve-data" type="application/json">(.*?)</script>', html, re.S).group(1)
    )


@pytest.fixture
def running_job(team, version, openai_connection):
    job = make_job(
        team,
        version,
        openai_connection,
        status=Job.Status.RUNNING,
        provider_job_id="ftjob-abc",
        total_steps=100,
        started_at=timezone.now() - timedelta(minutes=5),
    )
    MetricPoint.objects.bulk_create(
        [
            MetricPoint(job=job, step=s, train_loss=3 - s / 50, train_accuracy=0.4 + s / 500)
            for s in range(1, 41)
        ]
    )
    JobEvent.objects.create(
        job=job,
        provider_event_id="e1",
        created_at=timezone.now(),
        level="info",
        message="<script>alert('x')</script> Step 40/100",
    )
    return job


def test_the_job_page_shows_progress_eta_events_escaped_and_polls_while_running(alice_client, running_job):
    html = alice_client.get(f"/jobs/{running_job.id}/").content.decode()
    assert "Step 40 of 100" in html
    assert "left" in html  # the ETA
    assert 'style="width: 40%"' in html
    assert "&lt;script&gt;alert" in html and "<script>alert" not in html
    assert 'hx-trigger="every 2s"' in html
    figure = figure_of(html)
    assert figure["data"][0]["name"] == "train loss"
    assert "Cancel job" in html


def test_the_live_fragment_stops_polling_once_the_job_is_finished(alice_client, running_job):
    Job.objects.filter(id=running_job.id).update(
        status=Job.Status.SUCCEEDED, fine_tuned_model="ft:gpt-4o-mini:acme::x1"
    )
    html = alice_client.get(f"/jobs/{running_job.id}/", headers={"HX-Request": "true"}).content.decode()
    assert html.lstrip().startswith('<div id="live"')
    assert "every 2s" not in html
    assert "Cancel job" not in html
    assert f"/compare/?model=ft%3Agpt-4o-mini%3Aacme%3A%3Ax1&amp;job={running_job.id}" in html
    activity = alice_client.get(
        f"/jobs/{running_job.id}/?part=activity", headers={"HX-Request": "true"}
    ).content.decode()
    assert activity.lstrip().startswith('<div id="activity"') and "every 2s" not in activity
    assert "&lt;script&gt;alert" in activity


def test_sync_trouble_is_a_sentence_on_the_page(alice_client, running_job):
    running_job.mark_sync_failed(message="OpenAI is having trouble (HTTP 503 after 5 tries).")
    html = alice_client.get(f"/jobs/{running_job.id}/").content.decode()
    assert "could not reach the provider (1 tries in a row)" in html
    assert "HTTP 503" in html


def test_a_reviewer_sees_the_job_but_no_cancel_button_and_cannot_cancel(bob_client, running_job):
    html = bob_client.get(f"/jobs/{running_job.id}/").content.decode()
    assert "Cancel job" not in html
    assert bob_client.post(f"/jobs/{running_job.id}/cancel/").status_code == 403


def test_cancel_needs_the_csrf_token(alice, running_job):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(f"/jobs/{running_job.id}/cancel/").status_code == 403
    assert Job.objects.get(id=running_job.id).status == Job.Status.RUNNING


def test_cancel_asks_the_provider_and_shows_the_new_status(
    alice_client, team, version, openai_connection, openai_fake, monkeypatch
):
    from jobs import services

    remote = openai_fake.add_job(status="running")
    job = make_job(team, version, openai_connection, status=Job.Status.RUNNING, provider_job_id=remote["id"])
    original = services.job_cancel
    monkeypatch.setattr(services, "job_cancel", lambda *, job: original(job=job, client=openai_fake.client()))
    response = alice_client.post(f"/jobs/{job.id}/cancel/", follow=True)
    assert openai_fake.sent("POST", f"/{remote['id']}/cancel")
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert "Cancel requested" in response.content.decode()


def test_cancelling_a_job_not_yet_sent_cancels_it_here(alice_client, team, version, openai_connection):
    job = make_job(team, version, openai_connection)
    alice_client.post(f"/jobs/{job.id}/cancel/")
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED


def test_the_list_filters_by_status_connection_and_dataset(
    alice_client, team, version, openai_connection, together_connection
):
    other = make_version(team, name="other-set")
    a = make_job(team, version, openai_connection, status=Job.Status.SUCCEEDED)
    b = make_job(team, other, together_connection, status=Job.Status.FAILED)
    html = alice_client.get("/jobs/").content.decode()
    assert f'href="/jobs/{a.id}/"' in html and f'href="/jobs/{b.id}/"' in html
    html = alice_client.get("/jobs/?status=failed", headers={"HX-Request": "true"}).content.decode()
    assert f'href="/jobs/{b.id}/"' in html and f'href="/jobs/{a.id}/"' not in html
    assert "<html" not in html
    html = alice_client.get(f"/jobs/?connection={openai_connection.id}").content.decode()
    assert f'href="/jobs/{a.id}/"' in html and f'href="/jobs/{b.id}/"' not in html
    html = alice_client.get(f"/jobs/?dataset={other.dataset_id}").content.decode()
    assert f'href="/jobs/{b.id}/"' in html and f'href="/jobs/{a.id}/"' not in html
    assert 'name="ids"' in html and "Compare loss curves" in html


def test_the_curves_page_overlays_several_runs(alice_client, team, version, openai_connection):
    jobs = []
    for n in range(2):
        job = make_job(team, version, openai_connection, status=Job.Status.SUCCEEDED)
        MetricPoint.objects.bulk_create(
            [
                MetricPoint(job=job, step=s, train_loss=2 - s / 10 - n, valid_loss=2.1 - s / 10)
                for s in range(1, 11)
            ]
        )
        jobs.append(job)
    html = alice_client.get(f"/jobs/curves/?ids={jobs[0].id},{jobs[1].id}").content.decode()
    figure = figure_of(html)
    names = [trace["name"] for trace in figure["data"]]
    assert f"#{jobs[0].id} train loss" in names and f"#{jobs[1].id} validation loss" in names
    assert html.count('<script src="/static/vendor/plotly.min.js"') == 1


def values_of(array) -> list[float]:
    """A trace's numbers: plotly.js typed arrays ({"dtype", "bdata"}) or a plain list."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_the_curve_sends_at_most_the_budget_of_points_per_series(
    alice_client, team, version, openai_connection
):
    from jobs.selectors import MAX_POINTS_PER_SERIES as BUDGET

    job = make_job(team, version, openai_connection, status=Job.Status.SUCCEEDED)
    MetricPoint.objects.bulk_create(
        [MetricPoint(job=job, step=s, train_loss=1 + (s % 7) / 10) for s in range(1, 12_001)]
    )
    html = alice_client.get(f"/jobs/curves/?ids={job.id}").content.decode()
    trace = figure_of(html)["data"][0]
    xs, ys = (values_of(trace[axis]) for axis in ("x", "y"))
    # M4 keeps up to 4 points per bucket of steps, the bucket width a power of two: between half
    # the budget and the budget, the first and last step and every bucket's extremes among them.
    assert BUDGET // 2 < len(xs) <= BUDGET and len(ys) == len(xs)
    assert xs[0] == 1 and xs[-1] == 12_000
    assert min(ys) == pytest.approx(1.0) and max(ys) == pytest.approx(1.6)


def test_a_finished_live_fragment_tells_the_event_log_to_refresh_once_more(alice_client, running_job):
    live = alice_client.get(f"/jobs/{running_job.id}/", headers={"HX-Request": "true"})
    assert "HX-Trigger" not in live
    Job.objects.filter(id=running_job.id).update(status=Job.Status.SUCCEEDED)
    live = alice_client.get(f"/jobs/{running_job.id}/", headers={"HX-Request": "true"})
    assert live["HX-Trigger"] == "job-finished"
    html = alice_client.get(f"/jobs/{running_job.id}/").content.decode()
    assert "job-finished from:body" not in html  # finished: the event log no longer listens or polls


def test_pages_draw_reduced_curves_as_svg_and_only_all_points_with_webgl(
    alice_client, team, version, openai_connection
):
    from jobs.selectors import curves_figure

    short = make_job(team, version, openai_connection, status=Job.Status.SUCCEEDED)
    long = make_job(team, version, openai_connection, status=Job.Status.SUCCEEDED)
    MetricPoint.objects.bulk_create([MetricPoint(job=short, step=s, train_loss=1.0) for s in range(1, 51)])
    MetricPoint.objects.bulk_create([MetricPoint(job=long, step=s, train_loss=1.0) for s in range(1, 3001)])
    for job in (short, long):  # the pages send the kept, reduced series: SVG draws it crisply
        html = alice_client.get(f"/jobs/curves/?ids={job.id}").content.decode()
        figure = figure_of(html)
        assert {trace["type"] for trace in figure["data"]} == {"scatter"}
    # Every point (the benchmark's baseline) is too many for SVG.
    assert {t["type"] for t in curves_figure([long], max_points=None)["data"]} == {"scattergl"}


def test_a_frozen_version_page_leads_to_the_launch_form(alice_client, bob_client, version):
    url = f"/datasets/{version.dataset_id}/v/{version.number}/"
    html = alice_client.get(url).content.decode()
    assert f'href="/jobs/new/?version={version.id}"' in html and "Launch a fine-tuning job" in html
    form = alice_client.get(f"/jobs/new/?version={version.id}").content.decode()
    assert f'<option value="{version.id}" selected' in form
    assert "/jobs/new/" not in bob_client.get(url).content.decode()  # a reviewer can't launch


def test_an_unfrozen_version_page_has_no_launch_link(alice_client, team):
    draft = make_version(team, name="draft", frozen=False)
    html = alice_client.get(f"/datasets/{draft.dataset_id}/v/{draft.number}/").content.decode()
    assert "/jobs/new/" not in html


def test_the_job_page_shows_the_latest_50_events_and_all_of_them_on_request(
    alice_client, team, version, openai_connection
):
    from django.utils import timezone

    from jobs.models import JobEvent

    job = make_job(team, version, openai_connection, status=Job.Status.SUCCEEDED)
    now = timezone.now()
    JobEvent.objects.bulk_create(
        [
            JobEvent(
                job=job,
                provider_event_id=f"e{i}",
                created_at=now + timedelta(seconds=i),
                message=f"event number {i}.",
            )
            for i in range(120)
        ]
    )
    html = alice_client.get(f"/jobs/{job.id}/").content.decode()
    assert "event number 119." in html and "event number 70." in html and "event number 69." not in html
    assert "The latest 50 of 120 events." in html and "?events=all" in html
    everything = alice_client.get(f"/jobs/{job.id}/?events=all").content.decode()
    assert "event number 0." in everything and "The latest" not in everything


@pytest.mark.parametrize("status", [Job.Status.DRAFT, Job.Status.SUBMITTING])
def test_the_page_of_a_job_being_submitted_polls_from_the_first_second(
    alice_client, team, version, openai_connection, status
):
    job = make_job(team, version, openai_connection, status=status)
    html = alice_client.get(f"/jobs/{job.id}/").content.decode()
    assert html.count('hx-trigger="every 2s') == 2  # the live part and the event log
    fragment = alice_client.get(f"/jobs/{job.id}/", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 2s"' in fragment.content.decode()
    assert "HX-Trigger" not in fragment.headers
