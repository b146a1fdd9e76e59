from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"

    def ready(self) -> None:
        from fineweb.celery import app

        # Beat polls for due syncs often; each job's own next_sync_at decides how often it is synced.
        app.conf.beat_schedule = {
            **(app.conf.beat_schedule or {}),
            "jobs-sync-due": {"task": "jobs.sync_due", "schedule": 5.0},
        }
