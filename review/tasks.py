from __future__ import annotations

from celery import shared_task

from review.models import VersionReview
from review.services import review_build_fail, review_examples_build


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
