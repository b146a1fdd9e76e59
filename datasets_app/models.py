"""Datasets: content-addressed files (Blob), named datasets, and their immutable versions."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import models

from fineweb.lib.blobs import BlobStore

# Dataset files: BLOB_DIR/ab/cdef... by sha256 (fineweb.lib.blobs).
STORE = BlobStore(lambda: Path(settings.BLOB_DIR))


class Blob(models.Model):
    """A stored file, addressed by the sha256 of its bytes: written once, never edited in place."""

    sha256 = models.CharField(max_length=64, unique=True)
    size = models.BigIntegerField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.size} bytes)"

    @property
    def path(self) -> Path:
        return STORE.path(self.sha256)

    def open(self) -> IO[bytes]:
        return self.path.open("rb")


class Dataset(models.Model):
    class Method(models.TextChoices):
        SUPERVISED = "supervised", "Supervised (chat examples)"
        DPO = "dpo", "DPO (preference pairs)"

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.SUPERVISED)
    target_model = models.CharField(max_length=100, default="gpt-4o-mini-2024-07-18")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name

    @property
    def latest_version(self) -> DatasetVersion | None:
        return self.versions.order_by("-number").first()


class DatasetVersion(models.Model):
    """One uploaded file of a dataset. Its bytes never change; a fix is a new version."""

    class Status(models.TextChoices):
        VALIDATING = "validating", "Checking"
        INVALID = "invalid", "Has errors"
        VALID = "valid", "Valid"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="+")
    original_filename = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.VALIDATING)
    # 0..100 while a worker validates a large file; the page polls it.
    progress = models.PositiveSmallIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    train_blob = models.ForeignKey(Blob, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    validation_blob = models.ForeignKey(
        Blob, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    split_seed = models.IntegerField(null=True, blank=True)
    split_fraction = models.FloatField(null=True, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Lineage: the version this one was derived from (review fixes, "approved only"); None for an upload.
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A derived version asked to be frozen while a worker still validates it: frozen by this person
    # as soon as it turns out valid (datasets_app.services.dataset_validate).
    freeze_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The export formats this frozen version was checked against: {format: {"ok": bool, "reason": str}}.
    exports = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="one_version_number_per_dataset")
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number}"

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    @property
    def lineage(self) -> list[DatasetVersion]:
        """This version's ancestors, nearest first (one query per step; chains are short)."""
        chain: list[DatasetVersion] = []
        seen = {self.id}
        current = self.parent
        while current is not None and current.id not in seen and len(chain) < 100:
            chain.append(current)
            seen.add(current.id)
            current = current.parent
        return chain

    @property
    def is_valid(self) -> bool:
        return self.status == self.Status.VALID

    @property
    def stats(self) -> dict:
        return self.report.get("stats", {}) if self.report else {}

    @property
    def n_examples(self) -> int:
        return int(self.stats.get("n_examples", 0))

    @property
    def total_tokens(self) -> int:
        return int(self.stats.get("total_tokens", 0))

    @property
    def tokens_capped_total(self) -> int:
        """Tokens summed with each example capped at the model's limit: what billing counts."""
        return int(self.stats.get("tokens_capped_total", 0))
