from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from providers import crypto
from providers.http import mask_secret

# Requests at once and per minute for a connection that sets none, per kind. OpenAI: its first
# usage tier allows 500 requests a minute on the small chat models. Together publishes no fixed
# numbers (its limits are dynamic; fineweb honours its 429s and Retry-After), so the same
# moderate figures. A compatible server is often one machine: 4 at once. The built-in local
# provider shares this server's CPU: one at a time.
DEFAULT_LIMITS: dict[str, tuple[int, int]] = {
    "openai": (8, 500),
    "together": (8, 500),
    "openai_compatible": (4, 300),
    "local": (1, 600),
}
FALLBACK_LIMITS = (4, 300)
MAX_CONCURRENT_LIMIT = 64
MAX_PER_MINUTE_LIMIT = 100_000


class Connection(models.Model):
    """A team's way to reach one provider: kind, base URL, and an API key encrypted at rest."""

    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI"
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible server"
        TOGETHER = "together", "Together AI"
        LOCAL = "local", "Built-in local provider"

    class ImportState(models.TextChoices):
        NONE = "", "never"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="connections")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=100)
    # Blank: the provider's default URL; for "local", this server's own built-in provider.
    base_url = models.CharField(max_length=300, blank=True)
    # A Fernet token (see providers/crypto.py); never the key itself. For "local", the team's own
    # key of the built-in provider (localtuner keeps only its hash).
    api_key_encrypted = models.TextField(blank=True, editable=False)
    key_last4 = models.CharField(max_length=4, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_message = models.TextField(blank=True)
    import_state = models.CharField(max_length=10, choices=ImportState.choices, blank=True, default="")
    import_message = models.TextField(blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    # How hard fineweb may call this connection in batch work (evaluation runs): requests in flight
    # at once and requests started in any minute. Blank: the kind's default (`DEFAULT_LIMITS`).
    max_concurrent = models.PositiveIntegerField(null=True, blank=True)
    per_minute = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="connection_name_unique_per_team"),
            models.UniqueConstraint(
                fields=["team"], condition=models.Q(kind="local"), name="one_local_connection_per_team"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def request_limits(self) -> tuple[int, int]:
        """(requests at once, requests per minute): the connection's own, else its kind's default."""
        default_at_once, default_per_minute = DEFAULT_LIMITS.get(self.kind, FALLBACK_LIMITS)
        return (self.max_concurrent or default_at_once, self.per_minute or default_per_minute)

    @property
    def is_local(self) -> bool:
        return self.kind == self.Kind.LOCAL

    @property
    def masked_key(self) -> str:
        """`••••abcd`: the only form in which a key is ever shown."""
        if self.is_local:
            return "built in"
        return mask_secret("x" + self.key_last4) if self.key_last4 else "no key"

    def set_api_key(self, key: str) -> None:
        key = key.strip()
        self.api_key_encrypted = crypto.encrypt(key) if key else ""
        # The local key is fineweb's own and never shown, not even its last characters.
        self.key_last4 = key[-4:] if key and not self.is_local else ""

    def api_key(self) -> str:
        """The decrypted key (for "local", the team's key of the built-in provider)."""
        return crypto.decrypt(self.api_key_encrypted) if self.api_key_encrypted else ""

    def mark_tested(self, *, ok: bool, message: str) -> None:
        self.last_tested_at = timezone.now()
        self.last_test_ok = ok
        self.last_test_message = message
        self.save(update_fields=["last_tested_at", "last_test_ok", "last_test_message"])
