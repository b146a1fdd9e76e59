"""The dashboard's path through the built-in local provider with per-team keys, end to end: a real
worker submits and trains a team's job with that team's key, the sync reads it back, the team
chats with its model and cancels another job, and a second team's connection reaches none of it."""

from __future__ import annotations

import pytest

from jobs import services
from jobs.models import Job
from jobs.tasks import job_submit_task
from localtuner.models import LocalFile, LocalJob
from providers.base import ChatReply
from providers.errors import NotFound
from providers.models import Connection
from providers.services import connection_get_provider
from tests.factories import make_job, make_version
from tests.processes import wait_for

pytestmark = [pytest.mark.worker]
HELLO = [{"role": "user", "content": "What is 2 + 2?"}]


def test_a_teams_local_job_runs_with_its_own_key_and_stays_out_of_another_teams_reach(
    start_worker, team, charlie
):
    local = Connection.objects.get(team=team, kind="local")
    version = make_version(team, split=True)
    job = make_job(
        team, version, local, base_model="fineweb-tiny", hyperparameters={"n_epochs": 2, "batch_size": 2}
    )
    start_worker(queues="default,training")
    job_submit_task.delay(job.id)
    remote = wait_for(
        lambda: LocalJob.objects.filter(status__in=["succeeded", "failed"]).first(),
        timeout=300,
        message="the worker to submit and train the job",
    )
    assert remote.status == "succeeded", remote.error
    job.refresh_from_db()
    assert job.provider_job_id == remote.public_id and remote.team_id == team.id
    files = [job.provider_training_file_id, job.provider_validation_file_id, *remote.result_files]
    assert LocalFile.objects.filter(public_id__in=files, team=team).count() == 3

    services.job_sync(job_id=job.id)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.fine_tuned_model == remote.fine_tuned_model
    assert (
        job.metric_points.filter(train_loss__isnull=False).count()
        == remote.events.filter(type="metrics").count()
    )
    assert job.checkpoints.count() == remote.checkpoints.count() == 2
    ours = connection_get_provider(connection=local)
    reply = ours.chat(model=job.fine_tuned_model, messages=HELLO, max_tokens=3)  # what compare calls
    assert isinstance(reply, ChatReply) and reply.completion_tokens

    theirs = connection_get_provider(
        connection=Connection.objects.get(team__memberships__user=charlie, kind="local")
    )
    with pytest.raises(NotFound):
        theirs.get_job(remote.public_id)
    with pytest.raises(NotFound):
        theirs.chat(model=job.fine_tuned_model, messages=HELLO, max_tokens=3)
    assert job.fine_tuned_model not in [m.id for m in theirs.list_models()]
    assert _downloadable(ours, job.provider_training_file_id)
    assert not _downloadable(theirs, job.provider_training_file_id)

    second = make_job(team, version, local, base_model="fineweb-tiny", hyperparameters={"n_epochs": 2})
    services.job_submit(job_id=second.id)
    second.refresh_from_db()
    assert second.provider_job_id is not None
    with pytest.raises(NotFound):
        theirs.cancel_job(second.provider_job_id)
    assert LocalJob.objects.get(public_id=second.provider_job_id).status in LocalJob.ACTIVE
    services.job_cancel(job=second)
    assert LocalJob.objects.get(public_id=second.provider_job_id).status == "cancelled"
    second.refresh_from_db()
    assert second.status == Job.Status.CANCELLED


def _downloadable(provider, file_id: str) -> bool:
    try:
        provider.download_file(file_id)
    except NotFound:
        return False
    return True
