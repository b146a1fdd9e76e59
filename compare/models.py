"""Conversations of the compare screen: columns (a model each), turns, one reply per column per turn, votes."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models


class Conversation(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="conversations")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)
    title = models.CharField(max_length=200, blank=True)
    # Blind A/B: two columns whose models stay hidden (labels A and B, order drawn on the server)
    # until a vote is cast.
    blind = models.BooleanField(default=False)
    temperature = models.FloatField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(default=256)
    seed = models.IntegerField(null=True, blank=True)
    # Where it came from, for the lineage job -> conversations and "rerun on other models".
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"

    @property
    def revealed(self) -> bool:
        """Model names are shown: always outside blind mode; in blind mode once a vote is cast."""
        return not self.blind or self.votes.exists()


class Column(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="columns")
    connection = models.ForeignKey("providers.Connection", on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=300)
    system_prompt = models.TextField(blank=True)
    # Left to right on the screen; in blind mode drawn at random on the server.
    position = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=2)  # "A", "B", ...

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "position"], name="column_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.model}"

    @property
    def model_label(self) -> str:
        """How ratings and history name the model: its id and the connection it is reached through."""
        return f"{self.model} ({self.connection.name})"


class Turn(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    number = models.PositiveIntegerField()  # 1, 2, ...
    message = models.TextField()
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["conversation", "number"], name="turn_number_unique")]

    def __str__(self) -> str:
        return f"turn {self.number}: {self.message[:40]}"


class Reply(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "waiting"
        STREAMING = "streaming", "streaming"
        COMPLETE = "complete", "complete"
        STOPPED = "stopped", "stopped"
        FAILED = "failed", "failed"

    FINISHED = (Status.COMPLETE, Status.STOPPED, Status.FAILED)

    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="replies")
    column = models.ForeignKey(Column, on_delete=models.CASCADE, related_name="replies")
    text = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)  # a sentence for the user
    first_token_s = models.FloatField(null=True, blank=True)
    total_s = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    stop_reason = models.CharField(max_length=40, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=8, null=True, blank=True)
    # The month of the price table's row the cost came from ("2026-11"); blank: no price known.
    price_as_of = models.CharField(max_length=20, blank=True)
    # The page's stop button sets this; the stream that serves the reply checks it and ends.
    stop_requested = models.BooleanField(default=False)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["turn__number", "column__position"]
        constraints = [
            models.UniqueConstraint(fields=["turn", "column"], name="reply_unique_per_turn_column")
        ]

    def __str__(self) -> str:
        return f"reply {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens over the time spent generating them (after the first one arrived)."""
        if not self.completion_tokens or self.total_s is None:
            return None
        generating = self.total_s - (self.first_token_s or 0.0)
        if generating <= 0:
            return None
        return self.completion_tokens / generating

    def cost_text(self, model_name: str) -> str:
        """The cost as the page says it: "free", "$0.00041, prices of 2026-11", or a sentence
        when the table has no price for the model (`model_name`: the model's id, or "this model"
        while a blind comparison hides it) or the provider reported no token counts."""
        if self.cost_usd is not None and self.cost_usd == Decimal(0):
            return "free"
        if self.cost_usd is not None:  # (a reply saved before prices were dated has no month)
            return (
                f"{usd(self.cost_usd)}, prices of {self.price_as_of}"
                if self.price_as_of
                else usd(self.cost_usd)
            )
        if self.price_as_of:
            return f"no cost: the provider reported no token counts (prices of {self.price_as_of})"
        return f"no price in the table for {model_name}"

    @property
    def cost_display(self) -> str:
        return self.cost_text(self.column.model)


def usd(amount: Decimal) -> str:
    """Dollars to two significant digits below a cent ($0.0000087, $0.00041), else to the cent
    ($1.25); trailing zeros dropped."""
    places = min(8, max(2, 1 - amount.adjusted())) if amount else 2
    text = f"{amount:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"${text}"


class Vote(models.Model):
    class Outcome(models.TextChoices):
        A = "a", "A is better"
        B = "b", "B is better"
        TIE = "tie", "Tie"
        BOTH_BAD = "both_bad", "Both are bad"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="votes")
    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="votes")
    voter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    # A reply named its model or provider: the vote is kept but left out of the ratings.
    leaked = models.BooleanField(default=False)
    leaked_reason = models.CharField(max_length=200, blank=True)
    # Who was A and who was B, copied at vote time (ratings are computed from these rows).
    model_a = models.CharField(max_length=400)
    model_b = models.CharField(max_length=400)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["turn", "voter"], name="one_vote_per_turn_per_voter")]

    def __str__(self) -> str:
        return f"{self.model_a} vs {self.model_b}: {self.outcome}"
