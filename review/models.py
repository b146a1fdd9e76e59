"""Team review of a dataset version: one row per example, reviewers' decisions, comments, fixes.

The file of a version never changes: an `Example` row holds the example as the team reviews it
(its fixes applied), and freezing writes the approved ones into a new version
(`datasets_app.services.version_derive`). Who did what is kept in `ReviewEvent`, one row per
action, written by the services (bulk actions included, which model-signal audit libraries miss).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ReviewSettings(models.Model):
    """A team's review rules: how many reviews each example needs (1, or 2 to measure agreement)."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="review_settings")
    reviews_per_example = models.PositiveSmallIntegerField(
        default=1, choices=[(1, "One review per example"), (2, "Two reviews per example")]
    )

    def __str__(self) -> str:
        return f"{self.team}: {self.reviews_per_example} per example"


class VersionReview(models.Model):
    """The review of one dataset version: its example rows (built by a worker), its progress, and
    the frozen version it was turned into."""

    class State(models.TextChoices):
        BUILDING = "building", "Preparing"
        READY = "ready", "In review"
        FAILED = "failed", "Could not be prepared"
        FREEZING = "freezing", "Being frozen"
        FROZEN = "frozen", "Frozen"
        DECIDING = "deciding", "Bulk decision running"

    version = models.OneToOneField(
        "datasets_app.DatasetVersion", on_delete=models.CASCADE, related_name="review"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.BUILDING)
    progress = models.PositiveSmallIntegerField(default=0)  # 0..100 while rows are built or frozen
    n_examples = models.PositiveIntegerField(default=0)
    # Examples per status, kept by the services (one change per decision, a recount per bulk
    # action), so no page counts 100,000 rows to show them.
    n_pending = models.PositiveIntegerField(default=0)
    n_approved = models.PositiveIntegerField(default=0)
    n_rejected = models.PositiveIntegerField(default=0)
    n_disputed = models.PositiveIntegerField(default=0)
    reviews_needed = models.PositiveSmallIntegerField(default=1)
    frozen_into = models.ForeignKey(
        "datasets_app.DatasetVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"review of {self.version_id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state == self.State.READY

    @property
    def counts(self) -> dict[str, int]:
        """Examples per status (the keys of `Example.Status`) and "total"."""
        counts = {
            "pending": self.n_pending,
            "approved": self.n_approved,
            "rejected": self.n_rejected,
            "disputed": self.n_disputed,
        }
        counts["total"] = sum(counts.values())
        return counts


class Example(models.Model):
    """One example of a version as the team reviews it, with what the filters need stored flat."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        DISPUTED = "disputed", "Reviewers disagree"

    # No index of its own: the unique (version, index) serves every lookup by version.
    version = models.ForeignKey(
        "datasets_app.DatasetVersion", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    index = models.PositiveIntegerField()  # 0-based position among the file's examples
    line = models.PositiveIntegerField()
    data = models.JSONField(null=True, blank=True)  # None: the line could not be read
    raw = models.TextField(blank=True)  # the line as text when it could not be read
    search_text = models.TextField(blank=True)  # lower-cased message text, for the text filter
    n_tokens = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True)  # [{"kind": "error"|"warning", "code", "message"}]
    has_error = models.BooleanField(default=False)
    has_warning = models.BooleanField(default=False)
    has_privacy = models.BooleanField(default=False)
    is_duplicate = models.BooleanField(default=False)
    # The review status lives in `ExampleState`, a narrow row of its own: a bulk decision on 90,000
    # examples rewrites those, not these wide rows (JSON, search text, every filter's index).
    fixed = models.BooleanField(default=False)
    # Optimistic lock: every fix increments it, and a fix is saved only onto the number it was made on.
    lock = models.PositiveIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["version", "index"]
        constraints = [
            models.UniqueConstraint(fields=["version", "index"], name="review_one_example_per_index")
        ]
        indexes = [
            models.Index(fields=["version", "has_error", "index"], name="review_ex_error"),
            models.Index(fields=["version", "has_warning", "index"], name="review_ex_warning"),
            models.Index(fields=["version", "has_privacy", "index"], name="review_ex_privacy"),
            models.Index(fields=["version", "is_duplicate", "index"], name="review_ex_duplicate"),
            # (version, n_tokens) exists on PostgreSQL only (migration 0002): its planner weighs it
            # with statistics; SQLite's took it for a range covering every row, then sorted them.
        ]

    def __str__(self) -> str:
        return f"example {self.index + 1} of version {self.version_id}"

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def status(self) -> str:
        """The review status (from `ExampleState`; querysets filter on `state__status`)."""
        return self.state.status

    def get_status_display(self) -> str:
        return str(self.Status(self.status).label)


class ExampleState(models.Model):
    """Where an example stands in the review: its status and its counts of decisions.

    A narrow row per example, apart from `Example`: statuses change by the tens of thousands in
    one bulk decision, and rewriting the wide rows (the example's JSON, its search text, an index
    per filter) cost most of that time. `version` and `index` are copied from the example so the
    status filter and its keyset pages use one index, (version, status, index).
    """

    Status = Example.Status

    example = models.OneToOneField(Example, on_delete=models.CASCADE, primary_key=True, related_name="state")
    version = models.ForeignKey(
        "datasets_app.DatasetVersion", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    index = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Example.Status.choices, default=Example.Status.PENDING)
    # Copies of the example's flags (kept by the build and by a fix), so a status filter with a
    # flag filter ("waiting, with a warning") is answered by this table's indexes without a join.
    has_error = models.BooleanField(default=False)
    has_warning = models.BooleanField(default=False)
    has_privacy = models.BooleanField(default=False)
    is_duplicate = models.BooleanField(default=False)
    n_approve = models.PositiveSmallIntegerField(default=0)
    n_reject = models.PositiveSmallIntegerField(default=0)
    settled_verdict = models.CharField(max_length=16, blank=True)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["version", "status", "index"], name="review_state_status"),
            models.Index(fields=["version", "status", "has_warning", "index"], name="review_state_warning"),
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.example_id}"


class BulkDecision(models.Model):
    """A bulk approve or reject of more than `REVIEW_BULK_INLINE_EXAMPLES` examples, done by the
    worker task `review.bulk_decide` in chunks of positions; the review is "deciding" meanwhile
    (single decisions, fixes and other bulk actions are refused) and its pages show `done` of
    `expected`. `cursor` is the last position done, so a task delivered again carries on."""

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Stopped"

    review = models.ForeignKey(VersionReview, on_delete=models.CASCADE, related_name="bulk_decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    verdict = models.CharField(max_length=16)
    reason = models.TextField(blank=True)
    filters = models.JSONField(default=dict)  # the list's query string, as `Filters.as_query()`
    expected = models.PositiveIntegerField()
    done = models.PositiveIntegerField(default=0)
    cursor = models.IntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    message = models.TextField(blank=True)  # why it stopped, as the page shows it
    created = models.DateTimeField(auto_now_add=True)
    heartbeat = models.DateTimeField()  # moved by each chunk; a stale one means the worker is gone

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"bulk {self.verdict} of {self.expected} ({self.state})"

    @property
    def progress(self) -> int:
        return min(100, self.done * 100 // max(self.expected, 1))


class Decision(models.Model):
    """One reviewer's verdict on one example (changing one's mind updates it)."""

    class Verdict(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    reason = models.TextField(blank=True)
    created = models.DateTimeField()
    updated = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["example", "reviewer"], name="review_one_decision_per_reviewer")
        ]
        indexes = [
            # A bulk decision finds the rows it wrote by (reviewer, time) to refresh their status.
            models.Index(fields=["reviewer", "updated"], name="review_dec_written"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_id} {self.verdict} {self.example_id}"


class Comment(models.Model):
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"comment on {self.example_id}"


class Fix(models.Model):
    """A recorded change to an example: what it was, what it became, who changed it."""

    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="fixes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    before = models.JSONField(null=True)
    after = models.JSONField()
    lock = models.PositiveIntegerField()  # the example's lock number this fix produced
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"fix {self.lock} of {self.example_id}"


class ReviewEvent(models.Model):
    """The audit trail: who did what, when, on an example or on the whole version."""

    class Action(models.TextChoices):
        STARTED = "started", "started the review"
        APPROVED = "approved", "approved"
        REJECTED = "rejected", "rejected"
        COMMENTED = "commented", "commented"
        FIXED = "fixed", "fixed"
        SETTLED = "settled", "settled the disagreement"
        BULK = "bulk", "bulk decision"
        FROZE = "froze", "froze"
        DRAFTED = "drafted", "started a new draft version"
        SETTING = "setting", "changed the review setting"

    version = models.ForeignKey("datasets_app.DatasetVersion", on_delete=models.CASCADE, related_name="+")
    example = models.ForeignKey(
        Example, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    detail = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["version", "-created"], name="review_ev_version")]

    def __str__(self) -> str:
        return f"{self.actor_id} {self.action} {self.created:%Y-%m-%d %H:%M}"
