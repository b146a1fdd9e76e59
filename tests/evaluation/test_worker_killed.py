"""A real Celery worker is SIGKILLed in the middle of a run: nothing stored is lost, and the next
worker asks only for the calls that have no stored reply. The provider is the OpenAI chat fake
served over loopback HTTP, holding the seventh call open while the worker dies."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from evaluation import services
from evaluation.calls import Limit
from evaluation.models import RUN_LEASE, Result, Run
from tests.evaluation.helpers import german_tune, job_with_split, start_run
from tests.factories import make_connection
from tests.fakes.chat import ChatFake
from tests.fakes.http_server import FakeHTTPServer
from tests.processes import wait_for

pytestmark = [pytest.mark.worker]


class HoldsTheSeventhCall(ChatFake):
    def __init__(self):
        super().__init__(reply=german_tune)
        self.calls = 0
        self.seventh = threading.Event()
        self.release = threading.Event()

    def _chat(self, request):
        with self.lock:
            self.calls += 1
            n = self.calls
        if n == 7:
            self.seventh.set()
            self.release.wait(60)
        return super()._chat(request)


def test_a_worker_killed_mid_run_loses_nothing_and_repeats_no_finished_call(start_worker, team, alice):
    fake = HoldsTheSeventhCall()
    with FakeHTTPServer(fake) as server:
        connection = make_connection(
            team, kind="openai_compatible", name="Fake OpenAI", base_url=server.base_url
        )
        job = job_with_split(team, connection=connection)
        worker = start_worker(queues="default")
        run = start_run(team, alice, job, limit=Limit(1, 10_000))  # the task is sent on commit
        assert fake.seventh.wait(60), worker.log()
        wait_for(
            lambda: Result.objects.filter(run=run).count() == 6, timeout=30, message="six stored replies"
        )

        worker.kill()  # SIGKILL while the seventh call is open
        fake.release.set()
        finished_before = {
            (r.model.model, r.example.messages[-1]["content"])
            for r in Result.objects.filter(run=run).select_related("model", "example")
        }
        assert len(finished_before) == 6
        assert Run.objects.get(id=run.id).status == Run.Status.RUNNING

        # The lease runs out; beat's sweep hands the run to a new worker.
        Run.objects.filter(id=run.id).update(heartbeat_at=timezone.now() - RUN_LEASE - timedelta(seconds=1))
        second = start_worker(queues="default")
        assert services.runs_resume_stalled() == [run.id]
        wait_for(
            lambda: Run.objects.get(id=run.id).status == Run.Status.SUCCEEDED,
            timeout=90,
            message=f"the resumed run\n{second.log()}",
        )

    results = Result.objects.filter(run=run)
    assert results.count() == 20 and not results.exclude(error="").exists()
    for key in finished_before:
        assert fake.answered[key] == 1, key  # a finished call is never sent again
    # Only the call that was open when the worker died was answered twice.
    assert sum(fake.answered.values()) == 21
