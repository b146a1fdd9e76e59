"""Rows of the built-in local provider: API keys, files, fine-tuning jobs, their events and checkpoints.

The API is scoped by its bearer key: each team's local connection has a key of its own
(`LocalApiKey`, team set) and sees only the files and jobs made with it; the server's own key,
FINEWEB_LOCAL_API_KEY, is the server scope (`team` NULL), for SDK clients outside the dashboard.
Events and checkpoints belong to their job's scope. Every row has an internal integer key
(ordering, pagination) and the public OpenAI-style id (`file-...`, `ftjob-...`, `ftevent-...`,
`ftckpt-...`) that the API speaks.
"""

from __future__ import annotations

import secrets
import string
from pathlib import Path

from django.conf import settings
from django.db import models

from fineweb.lib.blobs import BlobStore

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def new_file_id() -> str:
    return new_id("file-")


def new_job_id() -> str:
    return new_id("ftjob-")


def new_event_id() -> str:
    return new_id("ftevent-")


def new_checkpoint_id() -> str:
    return new_id("ftckpt-")


def local_root() -> Path:
    """Everything the local provider writes lives under DATA_DIR/local."""
    return Path(settings.DATA_DIR) / "local"


class LocalApiKey(models.Model):
    """A bearer key of the local API and the scope it opens: a team's, or the server's own (team NULL).

    Only the key's sha256 is stored; the key itself lives encrypted in the team's provider connection.
    """

    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="local_api_keys"
    )
    label = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"local API key {self.label or self.pk} (team {self.team_id or 'server'})"


class LocalFile(models.Model):
    """An uploaded file; the bytes live once on disk, addressed by their sha256."""

    public_id = models.CharField(max_length=40, unique=True, default=new_file_id)
    # The owner scope: the team whose key uploaded it, NULL for the server key (FINEWEB_LOCAL_API_KEY).
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="local_files"
    )
    filename = models.CharField(max_length=255)
    purpose = models.CharField(max_length=32)
    bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.public_id} ({self.filename})"

    @property
    def path(self) -> Path:
        return blob_path(self.sha256)


# Files' bytes: DATA_DIR/local/files/ab/abcdef... by sha256 (the shared store, fineweb.lib.blobs).
FILES = BlobStore(lambda: local_root() / "files", layout="prefixed")


def blob_path(sha256: str) -> Path:
    return FILES.path(sha256)


class LocalJob(models.Model):
    class Status(models.TextChoices):
        VALIDATING_FILES = "validating_files"
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.VALIDATING_FILES, Status.QUEUED, Status.RUNNING)

    class Method(models.TextChoices):
        SUPERVISED = "supervised"
        DPO = "dpo"

    public_id = models.CharField(max_length=40, unique=True, default=new_job_id)
    # The owner scope, as for files; its events, checkpoints, result file and model share it.
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="local_jobs"
    )
    model = models.CharField(max_length=100)
    training_file = models.CharField(max_length=40)
    validation_file = models.CharField(max_length=40, blank=True, default="")
    suffix = models.CharField(max_length=64, blank=True, default="")
    seed = models.BigIntegerField()
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.SUPERVISED)
    # n_epochs, batch_size, learning_rate_multiplier (and beta for dpo): "auto" until the files are
    # validated, then the concrete values the trainer uses.
    hyperparameters = models.JSONField(default=dict)
    metadata = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.VALIDATING_FILES)
    error = models.JSONField(null=True, blank=True)  # {"code", "message", "param"} once failed
    # NULL until it succeeds: unique, and NULLs never collide where empty strings would.
    fine_tuned_model = models.CharField(max_length=255, null=True, blank=True, unique=True)  # noqa: DJ001
    result_files = models.JSONField(default=list)
    trained_tokens = models.BigIntegerField(null=True, blank=True)
    estimated_finish = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The lease: which process works on the job ("host:pid:nonce") and when it last said so.
    # A worker that dies leaves a lease that goes stale; the sweep hands the job to another.
    lease_owner = models.CharField(max_length=200, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.public_id} {self.model} {self.status}"

    @property
    def output_dir(self) -> Path:
        return local_root() / "jobs" / self.public_id

    @property
    def model_name(self) -> str:
        """The fine-tuned model's name: ft:<base>:<suffix>:<job id> (the suffix may be empty)."""
        return f"ft:{self.model}:{self.suffix or ''}:{self.public_id}"

    @property
    def is_finished(self) -> bool:
        return self.status not in self.ACTIVE


class LocalEvent(models.Model):
    """One `fine_tuning.job.event`. `key` makes each event idempotent: a job re-run after a lost
    worker reports the same step or milestone again and it is stored once."""

    class Level(models.TextChoices):
        INFO = "info"
        WARN = "warn"
        ERROR = "error"

    public_id = models.CharField(max_length=40, unique=True, default=new_event_id)
    job = models.ForeignKey(LocalJob, on_delete=models.CASCADE, related_name="events")
    key = models.CharField(max_length=80)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    type = models.CharField(max_length=16, default="message")  # "message" | "metrics"
    message = models.TextField()
    data = models.JSONField(null=True, blank=True)
    step = models.PositiveIntegerField(null=True, blank=True)  # metrics events only
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "key"], name="local_event_once_per_key"),
            models.UniqueConstraint(
                fields=["job", "step"], condition=models.Q(type="metrics"), name="local_metrics_once_per_step"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.message[:60]}"


class LocalCheckpoint(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_checkpoint_id)
    job = models.ForeignKey(LocalJob, on_delete=models.CASCADE, related_name="checkpoints")
    step = models.PositiveIntegerField()
    name = models.CharField(max_length=255, unique=True)  # fine_tuned_model_checkpoint
    metrics = models.JSONField(default=dict)
    adapter_dir = models.CharField(max_length=500)  # relative to DATA_DIR/local
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "step"], name="local_checkpoint_once_per_step")]

    def __str__(self) -> str:
        return self.name

    @property
    def adapter_path(self) -> Path:
        return local_root() / self.adapter_dir
