"""Evaluation runs: held-out examples sent to two or more models, scored, judged and compared.

Every row a run produces is keyed so that it is stored once: one `Result` per example x model,
one `Verdict` per example x judged item x order, whatever the number of workers, retries or
restarts. A worker killed in the middle loses nothing (each reply is saved as it arrives) and the
next one asks only for what is missing.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

# A running run whose worker has not reported for this long is handed to another worker.
RUN_LEASE = timedelta(seconds=60)


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        CANCELLING = "cancelling", "Stopping"
        CANCELLED = "cancelled", "Stopped"
        FAILED = "failed", "Failed"
        SUCCEEDED = "succeeded", "Finished"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.CANCELLING)
    FINISHED = (Status.CANCELLED, Status.FAILED, Status.SUCCEEDED)
    STATUS_SENTENCES: dict[str, str] = {
        Status.QUEUED: "Waiting for a worker to start the run.",
        Status.RUNNING: "Sending the examples to the models.",
        Status.CANCELLING: "Stopping: the calls already sent are finishing and will be kept.",
        Status.CANCELLED: "Stopped. The replies received so far are kept; resume to ask for the rest.",
        Status.FAILED: "The run stopped on an error.",
        Status.SUCCEEDED: "Every example has a reply from every model.",
    }

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="eval_runs")
    name = models.CharField(max_length=200)
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    dataset_version = models.ForeignKey(
        "datasets_app.DatasetVersion", on_delete=models.PROTECT, related_name="+"
    )
    split = models.CharField(max_length=16, default="validation")  # validation, train or all
    # [{"kind": "exact", ...}]: see evaluation.scorers.SCORERS.
    scorers = models.JSONField(default=list, blank=True)
    # {} or {"model": <RunModel position>, "mode": "score"|"pass_fail"|"pairwise", "rubric": "..."}
    judge = models.JSONField(default=dict, blank=True)
    max_tokens = models.PositiveIntegerField(default=256)
    estimate = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error_message = models.TextField(blank=True)
    n_examples = models.PositiveIntegerField(default=0)
    calls_total = models.PositiveIntegerField(default=0)
    calls_done = models.PositiveIntegerField(default=0)
    # This worker session: when it started and how many calls were done then (for the ETA).
    session_started_at = models.DateTimeField(null=True, blank=True)
    session_calls_at_start = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["team", "job", "-created"], name="eval_run_team_job")]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def can_resume(self) -> bool:
        return self.status in (self.Status.CANCELLED, self.Status.FAILED)

    @property
    def status_sentence(self) -> str:
        return self.STATUS_SENTENCES.get(self.status, "")

    @property
    def percent(self) -> int:
        return 100 * self.calls_done // self.calls_total if self.calls_total else 0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the pace of this worker session; None before the first reply."""
        if self.status != self.Status.RUNNING or not self.session_started_at:
            return None
        done = self.calls_done - self.session_calls_at_start
        elapsed = (timezone.now() - self.session_started_at).total_seconds()
        if done <= 0 or elapsed <= 0:
            return None
        return (self.calls_total - self.calls_done) * elapsed / done


class RunModel(models.Model):
    """One model of a run, in the run's order (0 is the baseline, usually the job's base model)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="run_models")
    position = models.PositiveSmallIntegerField()
    connection = models.ForeignKey("providers.Connection", on_delete=models.PROTECT, related_name="+")
    model = models.CharField(max_length=300)
    label = models.CharField(max_length=100)
    system_prompt = models.TextField(blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="one_model_per_position")]

    def __str__(self) -> str:
        return self.label


class Example(models.Model):
    """One held-out example as the run read it: the conversation up to the reply, and the reference."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="examples")
    index = models.PositiveIntegerField()
    messages = models.JSONField()
    prompt = models.TextField()  # the last user message, for the table and the similarity search
    reference = models.TextField(blank=True)
    # How much worse the last model (the fine-tune) did than the baseline, over the scorers
    # (evaluation.services.run_summarize); 0 when it did as well or better. Indexed: the
    # regressions filter sorts by it.
    drop = models.FloatField(default=0)

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="one_example_per_index")]
        indexes = [models.Index(fields=["run", "-drop", "index"], name="eval_example_drop")]

    def __str__(self) -> str:
        return f"example {self.index}"


class Result(models.Model):
    """A model's reply to an example, stored once (the unique constraint) with its scores."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="results")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="results")
    model = models.ForeignKey(RunModel, on_delete=models.CASCADE, related_name="results")
    reply = models.TextField(blank=True)
    error = models.TextField(blank=True)
    prompt_tokens = models.IntegerField(null=True, blank=True)
    completion_tokens = models.IntegerField(null=True, blank=True)
    latency_s = models.FloatField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    scores = models.JSONField(default=dict, blank=True)  # scorer key -> bool | number | None
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["example", "model"], name="one_result_per_example_model")
        ]
        indexes = [models.Index(fields=["run", "model"], name="eval_result_run_model")]

    def __str__(self) -> str:
        return f"result {self.example_id}/{self.model_id}"


class Verdict(models.Model):
    """One answer of the LLM judge: a score of one reply, or a pairwise choice in one order.

    `item` is the RunModel position for a score, "0-1" for a pairwise pair; `order` is "ab" or
    "ba" (pairwise is asked twice, the replies swapped), "" for a score.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="verdicts")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="verdicts")
    item = models.CharField(max_length=20)
    order = models.CharField(max_length=2, blank=True)
    # score mode: "1".."5"; pass_fail: "pass"/"fail"; pairwise: the winner in the shown order
    # mapped back to positions ("0", "1" or "tie"); "" when the judge's answer could not be read.
    outcome = models.CharField(max_length=10, blank=True)
    raw = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["example", "item", "order"], name="one_verdict_per_item_order")
        ]

    def __str__(self) -> str:
        return f"verdict {self.example_id}/{self.item}/{self.order}: {self.outcome}"


class Vote(models.Model):
    """A team member's blind vote on one example's two replies (baseline vs last model).

    The order shown is drawn on the server when the pair is handed out (`first` is the position
    shown as A, `second` as B); `outcome` is what was clicked ("a", "b", "tie", "both_bad"),
    empty until cast; `winner` says it in positions.
    """

    class Outcome(models.TextChoices):
        A = "a", "A is better"
        B = "b", "B is better"
        TIE = "tie", "Tie"
        BOTH_BAD = "both_bad", "Both are bad"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="votes")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    first = models.PositiveSmallIntegerField()  # position shown as A
    second = models.PositiveSmallIntegerField()  # position shown as B
    outcome = models.CharField(max_length=10, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    cast_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["example", "user"], name="one_vote_per_example_user")]

    def __str__(self) -> str:
        return f"vote {self.example_id} by {self.user_id}: {self.outcome}"

    @property
    def winner(self) -> str:
        """The outcome in positions: "0", "1", "tie" or "both_bad" ("" before the vote)."""
        return {"a": str(self.first), "b": str(self.second)}.get(self.outcome, self.outcome)
