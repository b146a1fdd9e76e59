import re

from django.conf import settings

from fineweb.celery import app

NAME = re.compile(r"[a-z_]+\.[a-z]+(_[a-z]+)+")  # <app label>.<verb>_<noun>


def our_tasks() -> set[str]:
    app.loader.import_default_modules()  # the tasks modules autodiscovery finds
    return {name for name in app.tasks if not name.startswith("celery.")}


def test_every_task_is_named_app_label_dot_verb_noun():
    names = our_tasks()
    assert "localtuner.train_job" in names
    assert [name for name in names if not NAME.fullmatch(name)] == []


def test_every_beat_entry_names_a_registered_task():
    names = our_tasks()
    assert {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} <= names
    assert "jobs-sync-due" in app.conf.beat_schedule, "the whole schedule comes from settings"


def test_training_goes_to_the_training_queue_and_the_rest_to_default():
    def queue_of(name: str) -> str:
        return app.amqp.router.route({}, name)["queue"].name

    assert queue_of("localtuner.train_job") == "training"
    assert queue_of("jobs.sync_job") == "default"
