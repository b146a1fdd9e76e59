from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fineweb.settings")

app = Celery("fineweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_routes = {"localtuner.tasks.*": {"queue": "training"}}
app.autodiscover_tasks()
