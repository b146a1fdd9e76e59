"""Bearer keys of the local API and the owner scope each opens.

A team's key opens that team's scope: its files, jobs (with their events and checkpoints) and
fine-tuned models, plus the base models everyone shares. FINEWEB_LOCAL_API_KEY opens the server's
own scope (rows with no team), for SDK clients that are not a team's connection. Another scope's
object answers exactly as a missing id does, so ids cannot be probed.

Only sha256 hashes of team keys are stored here; the plaintext is handed back once, to be kept
encrypted by the caller (the team's provider connection), and is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from localtuner.models import LocalApiKey, LocalCheckpoint, LocalFile, LocalJob

KEY_PREFIX = "fw-local-"
# last_used_at is for people ("is this key still in use?"), so one write a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Scope:
    """Whose objects a request sees: a team's (team_id) or the server's own (team_id None)."""

    team_id: int | None

    # team_id=None is the server's own scope: Django turns an exact lookup on None into IS NULL,
    # which django-stubs does not model.
    def files(self) -> QuerySet[LocalFile]:
        return LocalFile.objects.filter(team_id=self.team_id)  # type: ignore[misc]

    def jobs(self) -> QuerySet[LocalJob]:
        return LocalJob.objects.filter(team_id=self.team_id)  # type: ignore[misc]

    def checkpoints(self) -> QuerySet[LocalCheckpoint]:
        return LocalCheckpoint.objects.filter(job__team_id=self.team_id)  # type: ignore[misc]


SERVER_SCOPE = Scope(team_id=None)


def api_key_resolve(*, key: str) -> Scope | None:
    """The scope a bearer key opens, or None for a key nobody issued."""
    key = key.strip()
    if not key:
        return None
    if hmac.compare_digest(key.encode(), settings.FINEWEB_LOCAL_API_KEY.encode()):
        return SERVER_SCOPE
    row = LocalApiKey.objects.filter(key_hash=key_hash(key)).values("pk", "team_id").first()
    if row is None:
        return None
    now = timezone.now()
    LocalApiKey.objects.filter(pk=row["pk"]).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    return Scope(team_id=row["team_id"])


def api_key_issue(*, team_id: int | None, label: str) -> str:
    """Make a new key for a team's scope (None: the server's) and return it, the only time it is seen.

    An earlier key of the same team and label is revoked, so re-issuing a connection's key
    (one per label) never leaves a second key open.
    """
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    LocalApiKey.objects.filter(team_id=team_id, label=label).delete()  # type: ignore[misc]  # None: IS NULL
    LocalApiKey.objects.create(team_id=team_id, label=label, key_hash=key_hash(key))
    return key
