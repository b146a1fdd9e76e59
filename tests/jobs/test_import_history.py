"""Leaving OpenAI: an account's jobs, events, metric points and checkpoints copied into fineweb once.

OpenAI is the spec-shaped fake of tests/fakes/openai.py at the httpx transport layer; for the
button, the same fake is served over loopback HTTP so a real Celery worker reaches it.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
from django.utils import timezone

from jobs.imports import connection_import_jobs, version_for_training_file
from jobs.models import Checkpoint, Job, JobEvent, MetricPoint
from jobs.services import job_sync
from providers.base import ProviderFile
from providers.models import Connection
from tests.factories import make_connection, make_job, make_version
from tests.fakes.http_server import FakeHTTPServer
from tests.fakes.openai import TRAINING, FakeOpenAI, account
from tests.matching import search
from tests.processes import wait_for


@pytest.fixture
def fake():
    return account(FakeOpenAI())


def values(array) -> list[float]:
    """A plotly array, plain or typed (`{"dtype": "f8", "bdata": base64}`), as a list."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def by_status(team) -> dict[str, Job]:
    return {job.status: job for job in Job.objects.filter(team=team)}


def counts(team) -> tuple[int, int, int, int]:
    return (
        Job.objects.filter(team=team).count(),
        JobEvent.objects.filter(job__team=team).count(),
        MetricPoint.objects.filter(job__team=team).count(),
        Checkpoint.objects.filter(job__team=team).count(),
    )


@pytest.mark.django_db
def test_import_stores_each_job_with_its_events_metrics_and_checkpoints(team, openai_connection, fake):
    assert connection_import_jobs(connection=openai_connection, client=fake.client()) == {
        "seen": 3,
        "created": 3,
    }
    jobs = by_status(team)
    done, failed, running = jobs["succeeded"], jobs["failed"], jobs["running"]
    assert all(j.imported and j.imported_at and j.dataset_version is None for j in jobs.values())
    assert done.provider_job_id in fake.jobs and done.connection == openai_connection
    assert done.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:acme::")
    assert done.base_model == "gpt-4o-mini-2024-07-18" and done.trained_tokens == 5768
    assert done.hyperparameters["n_epochs"] == 3 and done.seed == 683058546
    assert done.provider_training_filename == "support-v3.jsonl" and done.provider_training_bytes == len(
        TRAINING
    )
    assert done.created.timestamp() == 1721764800  # the provider's date, not the import's
    assert done.events.count() == 134  # 130 messages + 4 metrics events, read across two pages
    # The result CSV wins over the metrics events: its step 2 has the validation numbers.
    points = {p.step: p for p in done.metric_points.all()}
    assert sorted(points) == [1, 2, 3, 4]
    assert points[1].train_loss == 2.5 and points[2].valid_loss == 2.3 and points[4].valid_accuracy == 0.61
    assert list(done.checkpoints.order_by("step").values_list("step", flat=True)) == [10, 20]
    assert failed.error_message == "The job failed due to an invalid training file."
    assert sorted(running.metric_points.values_list("step", flat=True)) == [1, 2, 3, 4, 5]  # from events
    assert running.total_steps == 5
    # Finished jobs are never polled; the running one is due for beat's next sync.
    assert done.next_sync_at is None and failed.next_sync_at is None
    assert running.next_sync_at is not None and running.next_sync_at <= timezone.now()
    assert set(Job.objects.filter(team=team, next_sync_at__isnull=False).values_list("id", flat=True)) == {
        running.id
    }


@pytest.mark.django_db
def test_metric_points_come_from_a_base64_result_file_too(team, openai_connection):
    fake = FakeOpenAI(base64_results=True)
    fake.add_job(status="succeeded", n_events=1)
    connection_import_jobs(connection=openai_connection, client=fake.client())
    job = Job.objects.get(team=team)
    assert list(job.metric_points.values_list("step", "train_loss", "valid_loss")) == [
        (1, 2.5, None),
        (2, 2.1, 2.3),
        (3, 1.7, None),
        (4, 1.2, 1.5),
    ]


@pytest.mark.django_db
def test_importing_twice_stores_nothing_twice(team, openai_connection, fake):
    connection_import_jobs(connection=openai_connection, client=fake.client())
    first = counts(team)
    assert first == (3, 134 + 3 + 7, 4 + 5, 2)
    assert connection_import_jobs(connection=openai_connection, client=fake.client()) == {
        "seen": 3,
        "created": 0,
    }
    assert counts(team) == first


@pytest.mark.django_db
def test_a_job_fineweb_launched_itself_is_not_copied(team, openai_connection, version, fake):
    launched = make_job(team, version, openai_connection, status=Job.Status.SUCCEEDED)
    remote = fake.add_job(status="succeeded", metadata={"fineweb_idempotency_key": launched.idempotency_key})
    assert connection_import_jobs(connection=openai_connection, client=fake.client())["created"] == 3
    assert not Job.objects.filter(provider_job_id=remote["id"]).exists()
    # Once fineweb stored the provider's id, the import recognises it by (connection, id) too.
    Job.objects.filter(id=launched.id).update(provider_job_id=remote["id"])
    assert connection_import_jobs(connection=openai_connection, client=fake.client())["created"] == 0
    assert Job.objects.get(provider_job_id=remote["id"]).source == Job.Source.LAUNCHED


@pytest.mark.django_db
def test_a_running_imported_job_is_synced_and_stops_being_polled_when_it_ends(team, openai_connection, fake):
    connection_import_jobs(connection=openai_connection, client=fake.client())
    running = by_status(team)["running"]
    fake.jobs[running.provider_job_id].update(
        status="succeeded", fine_tuned_model="ft:gpt-4o-mini:acme::done1"
    )
    job_sync(job_id=running.id, client=fake.client())
    running.refresh_from_db()
    assert running.status == Job.Status.SUCCEEDED and running.fine_tuned_model == "ft:gpt-4o-mini:acme::done1"
    assert running.next_sync_at is None
    assert running.events.count() == 7  # nothing stored twice by the sync


@pytest.mark.django_db
def test_a_version_with_the_same_file_name_and_size_is_linked(team, openai_connection, fake):
    lines = [json.loads(TRAINING)]
    draft = make_version(team, name="draft copy", lines=lines, frozen=False)
    frozen = make_version(team, name="support", lines=lines, frozen=True)
    other = make_version(team, name="other", lines=lines + lines, frozen=True)
    for version in (draft, frozen, other):
        version.original_filename = "support-v3.jsonl"
        version.save()
    connection_import_jobs(connection=openai_connection, client=fake.client())
    assert set(Job.objects.filter(team=team).values_list("dataset_version", flat=True)) == {frozen.id}
    # Same size, another name: no link (a wrong link is worse than none).
    assert (
        version_for_training_file(
            team=team, training_file=ProviderFile(id="f", bytes=len(TRAINING), filename="other.jsonl")
        )
        is None
    )


@pytest.mark.django_db
def test_a_file_uploaded_after_the_import_is_linked_by_the_next_import(team, openai_connection, fake):
    connection_import_jobs(connection=openai_connection, client=fake.client())
    version = make_version(team, name="support", lines=[json.loads(TRAINING)])
    version.original_filename = "support-v3.jsonl"
    version.save()
    assert connection_import_jobs(connection=openai_connection, client=fake.client())["created"] == 0
    assert set(Job.objects.filter(team=team).values_list("dataset_version", flat=True)) == {version.id}


@pytest.mark.django_db
def test_a_connection_only_imports_into_its_own_team(team, charlie, fake):
    from jobs.imports import job_import_history

    other_team = charlie.memberships.get().team
    connection = make_connection(team)
    with pytest.raises(ValueError):
        job_import_history(team=other_team, connection=connection, history=None)  # type: ignore[arg-type]


# --- pages -------------------------------------------------------------------------------------


@pytest.fixture
def imported(team, openai_connection, fake):
    connection_import_jobs(connection=openai_connection, client=fake.client())
    return by_status(team)


@pytest.mark.django_db
def test_the_imported_job_page_says_so_and_renders_its_curve(alice_client, imported):
    job = imported["succeeded"]
    html = alice_client.get(f"/jobs/{job.id}/").content.decode()
    assert f"Imported from OpenAI on {job.imported_at:%-d %B %Y}" in html
    assert "support-v3.jsonl" in html and "Not in fineweb." in html
    assert job.fine_tuned_model in html
    figure = json.loads(
        search(r'<script id="curve-data" type="application/json">(.*?)</script>', html, re.S).group(1)
    )
    traces = {t["name"]: values(t["y"]) for t in figure["data"]}
    assert traces["train loss"] == [2.5, 2.1, 1.7, 1.2]
    assert traces["validation loss"] == [2.3, 1.5]
    assert "every 2s" not in html  # finished: no polling


@pytest.mark.django_db
def test_the_list_filters_and_curves_handle_jobs_without_a_dataset_version(
    alice_client, imported, team, version, openai_connection
):
    launched = make_job(team, version, openai_connection)
    html = alice_client.get("/jobs/").content.decode()
    assert html.count('class="badge imported"') == 3 and "None" not in html
    rows = alice_client.get("/jobs/?dataset=none", headers={"HX-Request": "true"}).content.decode()
    assert f"/jobs/{launched.id}/" not in rows and all(f"/jobs/{j.id}/" in rows for j in imported.values())
    rows = alice_client.get(
        f"/jobs/?dataset={version.dataset_id}", headers={"HX-Request": "true"}
    ).content.decode()
    assert f"/jobs/{launched.id}/" in rows and f"/jobs/{imported['failed'].id}/" not in rows
    ids = ",".join(str(j.id) for j in (*imported.values(), launched))
    curves = alice_client.get(f"/jobs/curves/?ids={ids}")
    assert curves.status_code == 200 and "None" not in curves.content.decode()


@pytest.mark.django_db
def test_relaunching_an_imported_job_without_a_version_asks_for_one(alice_client, imported, team):
    other = make_version(team, name="elsewhere")
    html = alice_client.get(f"/jobs/new/?from={imported['succeeded'].id}").content.decode()
    assert 'data-testid="pick-version"' in html and "is not in fineweb" in html
    assert f'<option value="{other.id}" selected' not in html  # nothing is picked for the user
    assert 'name="n_epochs" value="3"' in html  # the settings are carried over


@pytest.mark.django_db
def test_relaunching_an_imported_job_with_a_matched_version_is_two_clicks(
    alice_client, team, openai_connection, fake
):
    version = make_version(team, name="support", lines=[json.loads(TRAINING)], target_model="fineweb-tiny")
    version.original_filename = "support-v3.jsonl"
    version.save()
    connection_import_jobs(connection=openai_connection, client=fake.client())
    job = by_status(team)["succeeded"]
    detail = alice_client.get(f"/jobs/{job.id}/").content.decode()
    assert f'href="/jobs/new/?from={job.id}"' in detail  # click 1
    html = alice_client.get(f"/jobs/new/?from={job.id}").content.decode()
    local = Connection.objects.get(team=team, kind="local")
    assert f'<option value="{version.id}" selected' in html
    assert f'<option value="{local.id}" selected' in html  # another provider than OpenAI
    token = search(r'name="launch_token" value="([0-9a-f]+)"', html).group(1)
    response = alice_client.post(
        "/jobs/new/",
        {  # click 2: the form as the browser sends it
            "version": version.id,
            "connection": local.id,
            "base_model": "fineweb-tiny",
            "n_epochs": "3",
            "batch_size": "1",
            "learning_rate_multiplier": "1.8",
            "suffix": "",
            "seed": "683058546",
            "launch_token": token,
            "from": job.id,
        },
    )
    relaunched = Job.objects.exclude(source=Job.Source.IMPORTED).get(team=team)
    assert response.status_code == 302 and response["Location"] == f"/jobs/{relaunched.id}/"
    assert relaunched.dataset_version == version and relaunched.connection == local


@pytest.mark.django_db
def test_another_team_cannot_see_imported_jobs(charlie_client, imported):
    for job in imported.values():
        assert charlie_client.get(f"/jobs/{job.id}/").status_code == 404
        assert charlie_client.get(f"/jobs/new/?from={job.id}").status_code == 404
    assert "support-v3" not in charlie_client.get("/jobs/").content.decode()


# --- the button, through a real worker ---------------------------------------------------------


@pytest.mark.worker
def test_the_import_button_runs_the_import_in_a_worker(start_worker, team, alice_client):
    fake = account(FakeOpenAI())
    with FakeHTTPServer(fake) as server:
        # An OpenAI connection at another base URL (a proxy, here the fake served on loopback).
        connection = make_connection(team, base_url=server.base_url)
        page = alice_client.get("/connections/").content.decode()
        assert "Import history from OpenAI" in page
        start_worker(queues="default")
        response = alice_client.post(f"/connections/{connection.id}/import/", headers={"HX-Request": "true"})
        assert response.status_code == 200 and "importing" in response.content.decode()
        wait_for(
            lambda: Connection.objects.get(id=connection.id).import_state == "done",
            timeout=90,
            message="the import to finish",
        )
    connection.refresh_from_db()
    assert connection.import_message.startswith("Imported 3 new jobs (3 on the account)")
    assert counts(team) == (3, 134 + 3 + 7, 4 + 5, 2)
    status = alice_client.get(f"/connections/{connection.id}/import/status/").content.decode()
    assert "Imported 3 new jobs" in status and "hx-trigger" not in status
    assert f'href="/jobs/?connection={connection.id}"' in status
    listed = alice_client.get(f"/jobs/?connection={connection.id}").content.decode()
    assert listed.count('class="badge imported"') == 3
