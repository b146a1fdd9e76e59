from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models


class Team(models.Model):
    name = models.CharField(max_length=100)
    # Launches whose estimated cost is above this need an owner's confirmation.
    monthly_budget_usd = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("100.00"))
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        REVIEWER = "reviewer", "Reviewer"
        LAUNCHER = "launcher", "Launcher"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.LAUNCHER)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} as {self.role}"

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER

    @property
    def can_review(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.REVIEWER)

    @property
    def can_launch(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.LAUNCHER)


class WorkerHeartbeat(models.Model):
    """One row per worker queue, touched by a beat task, so pages can say whether workers run."""

    queue = models.CharField(max_length=50, unique=True)
    hostname = models.CharField(max_length=200, blank=True)
    seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.queue} seen {self.seen:%H:%M:%S}"
