"""The Celery app. Its whole configuration (routes, beat schedule, limits) is the CELERY_* block of
fineweb/settings.py."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fineweb.settings")

app = Celery("fineweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
