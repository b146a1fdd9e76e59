"""Fine-tuning jobs and what a provider tells us about them (events, metric points, checkpoints).

Our status vocabulary is the provider-neutral one of OpenAI; adapters in providers/ map theirs
onto it. Rows coming from a provider carry the provider's id (or step) under a unique constraint,
so a sync that runs twice, or overlapping pages, never store anything twice.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

# Backoff of the sync poll after provider errors: 5 s, 10 s, 20 s, ... at most 10 minutes.
SYNC_INTERVAL = timedelta(seconds=5)
SYNC_BACKOFF_MAX = timedelta(minutes=10)


def new_idempotency_key() -> str:
    return f"fineweb-{uuid.uuid4().hex}"


class Job(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTING = "submitting", "Submitting"
        VALIDATING_FILES = "validating_files", "Validating files"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        CANCELLING = "cancelling", "Cancelling"

    class Method(models.TextChoices):
        SUPERVISED = "supervised", "Supervised (SFT)"
        DPO = "dpo", "Preference (DPO)"

    class Source(models.TextChoices):
        LAUNCHED = "launched", "Launched in fineweb"
        IMPORTED = "imported", "Imported from the provider"

    # Statuses the provider is still working on: beat keeps syncing these.
    ACTIVE_AT_PROVIDER = (Status.VALIDATING_FILES, Status.QUEUED, Status.RUNNING, Status.CANCELLING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
    # What the job page says beside the status badge (status_sentence).
    STATUS_SENTENCES: dict[str, str] = {
        Status.DRAFT: "fineweb is uploading the data and creating the job at the provider.",
        Status.SUBMITTING: "fineweb is uploading the data and creating the job at the provider.",
        Status.VALIDATING_FILES: "The provider is checking the uploaded files.",
        Status.QUEUED: "The provider has accepted the job and will start it soon.",
        Status.RUNNING: "Training.",
        Status.CANCELLING: "Cancel requested; waiting for the provider to stop the job.",
        Status.SUCCEEDED: "Training finished.",
        Status.FAILED: "The job failed.",
        Status.CANCELLED: "The job was cancelled.",
    }

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="jobs")
    # PROTECT: a dataset version (and so its dataset) that trained a model can't be deleted.
    # NULL only for a job imported from a provider whose training file matches no version here.
    dataset_version = models.ForeignKey(
        "datasets_app.DatasetVersion", on_delete=models.PROTECT, related_name="jobs", null=True, blank=True
    )
    connection = models.ForeignKey("providers.Connection", on_delete=models.PROTECT, related_name="jobs")
    base_model = models.CharField(max_length=200)
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.SUPERVISED)
    hyperparameters = models.JSONField(default=dict, blank=True)
    suffix = models.CharField(max_length=40, blank=True)
    seed = models.IntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)

    # Stored when the row is created, i.e. before any provider call, and sent with the create call.
    idempotency_key = models.CharField(
        max_length=64, unique=True, default=new_idempotency_key, editable=False
    )
    # NULL (not ""), so the per-connection unique constraint ignores jobs not yet created there.
    provider_job_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # When a submit took the job, and how many times one did (>1 means: look before creating).
    submit_claimed_at = models.DateTimeField(null=True, blank=True)
    submit_attempts = models.PositiveIntegerField(default=0)
    provider_training_file_id = models.CharField(max_length=200, blank=True)
    provider_validation_file_id = models.CharField(max_length=200, blank=True)
    provider_status = models.CharField(max_length=50, blank=True)
    fine_tuned_model = models.CharField(max_length=300, blank=True)

    # A job that ran before fineweb knew it ("leaving OpenAI"): copied from the provider's history.
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.LAUNCHED)
    imported_at = models.DateTimeField(null=True, blank=True)
    # The provider's training file as it described it (the imported job's only link to its data).
    provider_training_filename = models.CharField(max_length=255, blank=True)
    provider_training_bytes = models.BigIntegerField(null=True, blank=True)

    estimated_cost_usd = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    estimated_tokens = models.BigIntegerField(null=True, blank=True)
    estimated_seconds = models.IntegerField(null=True, blank=True)
    # The launch form's plan (the provider's own "auto" rule where fineweb knows it), kept to show
    # next to what happened.
    estimated_epochs = models.IntegerField(null=True, blank=True)
    estimated_steps = models.IntegerField(null=True, blank=True)
    trained_tokens = models.BigIntegerField(null=True, blank=True)
    trained_epochs = models.IntegerField(null=True, blank=True)  # as the provider reports it resolved
    total_steps = models.IntegerField(null=True, blank=True)
    # Raised when stored metric points change steps the kept downsampled series holds
    # (jobs/series.py): a series kept under an older revision is rebuilt from every row.
    metrics_revision = models.PositiveIntegerField(default=0)
    # The highest step stored (jobs.metrics): a page whose kept series reaches it reads no rows.
    metrics_last_step = models.IntegerField(null=True, blank=True)
    # What the provider billed, once it says (Together's price; OpenAI's trained_tokens x the
    # catalogue's dated price), and how fineweb knows it, in a sentence.
    billed_cost_usd = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    billed_note = models.CharField(max_length=300, blank=True)
    # Where the cost estimate comes from when not the launch form's table (Together's own estimate).
    estimate_note = models.CharField(max_length=300, blank=True)
    error_message = models.TextField(blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Sync bookkeeping: beat enqueues a sync when next_sync_at is due; errors push it back.
    next_sync_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    sync_failures = models.PositiveIntegerField(default=0)
    sync_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "provider_job_id"],
                name="one_row_per_provider_job",
                condition=models.Q(provider_job_id__isnull=False),
            ),
            # Only an imported job may lack a dataset version: everything launched here has one.
            models.CheckConstraint(
                condition=models.Q(source="imported") | models.Q(dataset_version__isnull=False),
                name="launched_jobs_have_a_dataset_version",
            ),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"

    @property
    def imported(self) -> bool:
        return self.source == self.Source.IMPORTED

    @property
    def is_active(self) -> bool:
        return self.status not in self.FINISHED and self.status != self.Status.DRAFT

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def status_sentence(self) -> str:
        """One sentence for people on what the status means (empty for an unknown status)."""
        return self.STATUS_SENTENCES.get(self.status, "")

    @property
    def can_cancel(self) -> bool:
        return (
            self.status in (self.Status.SUBMITTING, *self.ACTIVE_AT_PROVIDER)
            and self.status != self.Status.CANCELLING
        )

    # --- single-row changes -------------------------------------------------------------------

    def mark_failed(self, *, message: str) -> None:
        self.status = self.Status.FAILED
        self.error_message = message
        self.finished_at = self.finished_at or timezone.now()
        self.next_sync_at = None
        self.save(update_fields=["status", "error_message", "finished_at", "next_sync_at"])

    def mark_cancelling(self) -> None:
        self.status = self.Status.CANCELLING
        self.next_sync_at = timezone.now()
        self.save(update_fields=["status", "next_sync_at"])

    def mark_cancelled(self) -> None:
        self.status = self.Status.CANCELLED
        self.finished_at = self.finished_at or timezone.now()
        self.next_sync_at = None
        self.save(update_fields=["status", "finished_at", "next_sync_at"])

    def mark_sync_ok(self) -> None:
        """A sync went through: poll again soon unless the job is finished."""
        now = timezone.now()
        self.last_synced_at = now
        self.sync_failures = 0
        self.sync_error = ""
        self.next_sync_at = None if self.is_finished else now + SYNC_INTERVAL
        self.save(update_fields=["last_synced_at", "sync_failures", "sync_error", "next_sync_at"])

    def mark_sync_failed(self, *, message: str, retry_after: float | None = None) -> None:
        """Exponential backoff (5 s, 10 s, 20 s ... 10 min), or the provider's Retry-After if longer."""
        self.sync_failures += 1
        delay = min(SYNC_INTERVAL * (2 ** min(self.sync_failures, 12)), SYNC_BACKOFF_MAX)
        if retry_after is not None:
            delay = max(delay, timedelta(seconds=retry_after))
        self.sync_error = message
        self.next_sync_at = timezone.now() + delay
        self.save(update_fields=["sync_failures", "sync_error", "next_sync_at"])


class JobEvent(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    provider_event_id = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    level = models.CharField(max_length=20, default="info")
    message = models.TextField(blank=True)
    type = models.CharField(max_length=50, blank=True)
    data = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["job", "provider_event_id"], name="one_row_per_event")]

    def __str__(self) -> str:
        return f"{self.level}: {self.message[:60]}"


class MetricPoint(models.Model):
    """One training step. Values come from metrics events and from the result CSV, merged."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="metric_points")
    step = models.IntegerField()
    train_loss = models.FloatField(null=True, blank=True)
    train_accuracy = models.FloatField(null=True, blank=True)
    valid_loss = models.FloatField(null=True, blank=True)
    valid_accuracy = models.FloatField(null=True, blank=True)

    VALUE_FIELDS = ("train_loss", "train_accuracy", "valid_loss", "valid_accuracy")

    class Meta:
        ordering = ["step"]
        constraints = [models.UniqueConstraint(fields=["job", "step"], name="one_row_per_step")]

    def __str__(self) -> str:
        return f"step {self.step}: {self.train_loss}"


class Checkpoint(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="checkpoints")
    provider_checkpoint_id = models.CharField(max_length=200)
    step = models.IntegerField(null=True, blank=True)
    model_name = models.CharField(max_length=300, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-step"]
        constraints = [
            models.UniqueConstraint(fields=["job", "provider_checkpoint_id"], name="one_row_per_checkpoint")
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.provider_checkpoint_id} at step {self.step}"


class MetricSeries(models.Model):
    """A job's metric series as the pages draw them (M4-downsampled), kept so that no page reads
    all of a long job's points: a finished job's are read once, a running job's are extended with
    the points that arrived since (jobs/series.py). Valid for one `Job.metrics_revision`."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="series")
    first_step = models.IntegerField()  # the lowest step: with last_step, it sets the bucket width
    last_step = models.IntegerField()  # the highest step folded in
    max_points = models.PositiveIntegerField()  # the budget per series it was reduced to
    revision = models.PositiveIntegerField()  # the job's metrics_revision it was built from
    data = models.BinaryField()  # float64: each series' length, then its x and y (jobs/series.py)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"series of job {self.job_id} up to step {self.last_step}"
