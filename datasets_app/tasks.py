from __future__ import annotations

from celery import shared_task

from datasets_app.models import DatasetVersion
from datasets_app.services import dataset_validate, dataset_version_fail, version_exports_check


@shared_task(name="datasets_app.validate_version", ignore_result=True, acks_late=True)
def dataset_validate_task(version_id: int) -> None:
    """Validate a large upload off the request (the page polls the version's progress)."""
    version = DatasetVersion.objects.filter(id=version_id).first()
    if version is None:
        return
    try:
        dataset_validate(version=version)
    except Exception:
        dataset_version_fail(version_id=version_id, message="Checking the file failed; upload it again.")
        raise


@shared_task(name="datasets_app.check_exports", ignore_result=True, acks_late=True)
def version_exports_check_task(version_id: int) -> None:
    """Check a large frozen version against its export formats off the request."""
    version = DatasetVersion.objects.filter(id=version_id, frozen_at__isnull=False).first()
    if version is not None:
        version_exports_check(version=version)
