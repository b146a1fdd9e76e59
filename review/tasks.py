from __future__ import annotations

import logging

from celery import shared_task

from review.models import VersionReview
from review.services import (
    ReviewError,
    review_build_fail,
    review_bulk_fail,
    review_bulk_run,
    review_examples_build,
    review_freeze,
    review_freeze_fail,
)

logger = logging.getLogger(__name__)


@shared_task(name="review.build_examples", ignore_result=True, acks_late=True)
def review_build_task(review_id: int) -> None:
    """Write the example rows of a large version off the request (the queue page shows progress)."""
    review = VersionReview.objects.filter(id=review_id).first()
    if review is None:
        return
    try:
        review_examples_build(review=review)
    except Exception:
        review_build_fail(review_id=review_id)
        raise


@shared_task(name="review.freeze_version", ignore_result=True, acks_late=True)
def review_freeze_task(review_id: int, user_id: int, approved_only: bool) -> None:
    """Freeze a large review off the request (its progress page shows a bar meanwhile)."""
    from django.contrib.auth import get_user_model

    review = VersionReview.objects.filter(id=review_id, state=VersionReview.State.FREEZING).first()
    user = get_user_model().objects.filter(id=user_id).first()
    if review is None or user is None:
        review_freeze_fail(review_id=review_id)
        return
    try:
        review_freeze(review=review, user=user, approved_only=approved_only)
    except ReviewError as exc:  # the rule no longer holds: the review is open again
        logger.info("review %s not frozen: %s", review_id, exc)
    except Exception:
        review_freeze_fail(review_id=review_id)
        raise


@shared_task(name="review.bulk_decide", ignore_result=True, acks_late=True)
def review_bulk_task(job_id: int) -> None:
    """Record a large bulk decision off the request (the review's pages show its progress)."""
    try:
        review_bulk_run(job_id=job_id)
    except Exception:
        review_bulk_fail(job_id=job_id)
        raise
