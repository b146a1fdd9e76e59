from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Checkpoint, Job, JobEvent, MetricPoint
from tests.factories import make_job
from tests.fakes.openai import RESULT_CSV, FakeOpenAI

pytestmark = pytest.mark.django_db


def remote_job(fake, team, version, connection, **kwargs):
    remote = fake.add_job(**kwargs)
    status = {"completed": "succeeded"}.get(remote["status"], remote["status"])
    if status not in Job.Status.values:
        status = Job.Status.RUNNING
    job = make_job(
        team, version, connection, provider_job_id=remote["id"], status=status, next_sync_at=timezone.now()
    )
    return remote, job


def test_a_sync_stores_events_metric_points_and_checkpoints(team, version, openai_connection, openai_fake):
    remote, job = remote_job(
        openai_fake,
        team,
        version,
        openai_connection,
        status="running",
        n_events=3,
        n_metrics=5,
        checkpoints=2,
    )
    services.job_sync(job_id=job.id, client=openai_fake.client())
    assert job.events.count() == 8
    assert list(job.metric_points.values_list("step", flat=True)) == [1, 2, 3, 4, 5]
    assert job.metric_points.get(step=2).valid_loss == pytest.approx(2.7)
    assert job.checkpoints.count() == 2
    job.refresh_from_db()
    assert job.total_steps == 5
    assert job.status == Job.Status.RUNNING
    assert job.next_sync_at is not None


def test_syncing_twice_stores_each_event_point_and_checkpoint_once(
    team, version, openai_connection, openai_fake
):
    remote, job = remote_job(
        openai_fake,
        team,
        version,
        openai_connection,
        status="running",
        n_events=4,
        n_metrics=6,
        checkpoints=3,
    )
    services.job_sync(job_id=job.id, client=openai_fake.client())
    services.job_sync(job_id=job.id, client=openai_fake.client())
    # A sync that starts from scratch (as after losing the cursor) stores nothing twice either.
    JobEvent.objects.filter(job=job).order_by("-created_at")[0].delete()
    services.job_sync(job_id=job.id, client=openai_fake.client())
    assert JobEvent.objects.filter(job=job).count() == 10
    assert MetricPoint.objects.filter(job=job).count() == 6
    assert Checkpoint.objects.filter(job=job).count() == 3


def test_new_events_across_overlapping_pages_are_stored_once(team, version, openai_connection, openai_fake):
    remote, job = remote_job(openai_fake, team, version, openai_connection, status="running", n_events=250)
    services.job_sync(job_id=job.id, client=openai_fake.client())
    for i in range(130):
        openai_fake.events[remote["id"]].append(
            openai_fake._event(remote["id"], f"later {i}", created_at=1721769000 + i)
        )
    services.job_sync(job_id=job.id, client=openai_fake.client())
    assert job.events.count() == 380
    assert job.events.values("provider_event_id").distinct().count() == 380


def test_metric_points_merge_events_with_the_result_csv(team, version, openai_connection):
    fake = FakeOpenAI(base64_results=True)
    remote, job = remote_job(fake, team, version, openai_connection, status="running", n_metrics=4)
    services.job_sync(job_id=job.id, client=fake.client())
    assert job.metric_points.get(step=3).valid_loss is None
    # It finishes: the (base64-encoded) result CSV brings validation numbers for the same steps.
    remote["status"] = "succeeded"
    remote["fine_tuned_model"] = "ft:gpt-4o-mini-2024-07-18:acme::xyz"
    remote["result_files"] = [
        fake._store_file("step_metrics.csv", __import__("base64").b64encode(RESULT_CSV.encode()))
    ]
    services.job_sync(job_id=job.id, client=fake.client())
    assert job.metric_points.count() == 4
    point = job.metric_points.get(step=4)
    assert point.valid_loss == pytest.approx(1.5)
    assert point.train_loss is not None  # the CSV filled in; it erased nothing
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.fine_tuned_model == "ft:gpt-4o-mini-2024-07-18:acme::xyz"


def test_a_finished_job_stops_being_polled(team, version, openai_connection, openai_fake):
    remote, job = remote_job(openai_fake, team, version, openai_connection, status="running")
    assert job.id in services.jobs_due_for_sync()
    remote["status"] = "failed"
    remote["error"] = {
        "code": "invalid_training_file",
        "param": "training_file",
        "message": "The job failed due to an invalid training file.",
    }
    services.job_sync(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "invalid training file" in job.error_message
    assert job.next_sync_at is None
    assert job.id not in services.jobs_due_for_sync(now=timezone.now() + timedelta(days=1))


def test_a_due_job_is_claimed_by_one_beat_tick_only(team, version, openai_connection, openai_fake):
    remote, job = remote_job(openai_fake, team, version, openai_connection, status="running")
    assert services.jobs_due_for_sync() == [job.id]
    assert services.jobs_due_for_sync() == []


def test_an_unknown_provider_status_and_unknown_fields_change_nothing(
    team, version, openai_connection, openai_fake
):
    remote, job = remote_job(openai_fake, team, version, openai_connection, status="running", n_metrics=2)
    remote["status"] = "paused_for_review"
    remote["brand_new_field"] = {"nested": [1, 2]}
    services.job_sync(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING
    assert job.provider_status == "paused_for_review"
    assert job.sync_failures == 0


@pytest.mark.parametrize(
    "failure, expected",
    [
        (
            {
                "status": 429,
                "body": {
                    "error": {
                        "message": "Rate limit reached",
                        "type": "requests",
                        "param": None,
                        "code": "rate_limit_exceeded",
                    }
                },
                "headers": {"Retry-After": "120"},
            },
            "limiting",
        ),
        (
            {
                "status": 500,
                "body": {
                    "error": {"message": "internal", "type": "server_error", "param": None, "code": None}
                },
            },
            "trouble",
        ),
        ({"exception": httpx.ReadTimeout("timed out")}, "did not answer in time"),
        (
            {"status": 200, "body": "<html>oops</html>", "headers": {"content-type": "text/html"}},
            "could not read",
        ),
    ],
    ids=["429-retry-after", "500", "timeout", "malformed"],
)
def test_provider_errors_back_off_with_a_sentence(
    team, version, openai_connection, openai_fake, failure, expected, fast_retries
):
    remote, job = remote_job(openai_fake, team, version, openai_connection, status="running")
    openai_fake.fail_next(times=20, **failure)
    before = timezone.now()
    services.job_sync(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    assert job.sync_failures == 1
    assert job.sync_error and expected in job.sync_error
    assert job.status == Job.Status.RUNNING  # an error talking to the provider is not a failed job
    wait = (job.next_sync_at - before).total_seconds()
    assert wait >= (120 if "headers" in failure and "Retry-After" in failure["headers"] else 9)


def test_backoff_grows_with_each_failure_and_resets_after_a_success(
    team, version, openai_connection, openai_fake, fast_retries
):
    remote, job = remote_job(openai_fake, team, version, openai_connection, status="running")
    waits = []
    for _ in range(3):
        openai_fake.fail_next(
            times=20, status=503, body={"error": {"message": "overloaded", "type": "server_error"}}
        )
        start = timezone.now()
        services.job_sync(job_id=job.id, client=openai_fake.client())
        job.refresh_from_db()
        waits.append((job.next_sync_at - start).total_seconds())
        openai_fake.failures.clear()
    assert waits[0] < waits[1] < waits[2]
    services.job_sync(job_id=job.id, client=openai_fake.client())
    job.refresh_from_db()
    assert job.sync_failures == 0
    assert job.sync_error == ""


def test_together_metrics_come_from_its_metrics_endpoint(team, version, together_connection, together_fake):
    remote, job = remote_job(
        together_fake, team, version, together_connection, status="running", n_steps=6, evals_every=3
    )
    services.job_sync(job_id=job.id, client=together_fake.client())
    steps = list(job.metric_points.values_list("step", flat=True))
    assert steps == [1, 2, 3, 4, 5, 6]
    assert job.metric_points.exclude(valid_loss=None).exists()
    services.job_sync(job_id=job.id, client=together_fake.client())
    assert job.metric_points.count() == 6
    assert job.events.count() == job.events.values("provider_event_id").distinct().count()


def test_together_completed_maps_to_succeeded_with_its_output_name(
    team, version, together_connection, together_fake
):
    remote, job = remote_job(together_fake, team, version, together_connection, status="running", n_steps=2)
    remote["status"] = "completed"
    services.job_sync(job_id=job.id, client=together_fake.client())
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.fine_tuned_model == remote["model_output_name"]
