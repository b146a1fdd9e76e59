"""The sample dataset `make run` loads into the demo team (onboarding.services.team_create)."""

from __future__ import annotations

from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

SAMPLE = Path(__file__).resolve().parent / "samples" / "support_german.jsonl"


def demo_dataset_create(*, team, user):
    """Upload the shipped sample (support answers in German) and validate it inline."""
    from datasets_app.services import dataset_upload

    upload = SimpleUploadedFile(SAMPLE.name, SAMPLE.read_bytes(), content_type="application/jsonl")
    return dataset_upload(
        team=team,
        user=user,
        name="Support answers in German (sample)",
        method="supervised",
        target_model="gpt-4o-mini-2024-07-18",
        uploaded_file=upload,
    )
