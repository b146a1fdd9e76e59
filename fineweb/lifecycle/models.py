from __future__ import annotations

from django.db import models


class ReportedShutdown(models.Model):
    """A shutdown date a provider's own model list reported for a model (OpenAI's `shutdown_date`
    on `GET /v1/models`). `fineweb.lib.catalogue.retirement` reads it with the built-in table; a
    reported date wins, since it was seen after the table was written."""

    provider_kind = models.CharField(max_length=20)  # providers' Connection.kind: "openai", ...
    model = models.CharField(max_length=300)  # lowercased, as the catalogue looks models up
    shutdown_on = models.DateField()
    source = models.CharField(max_length=300)  # where it was read, in a sentence for the page
    seen_at = models.DateTimeField()  # when this date was first reported (a change resets it)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider_kind", "model"], name="one_reported_shutdown_per_model")
        ]

    def __str__(self) -> str:
        return (
            f"{self.provider_kind} {self.model}: shuts down {self.shutdown_on} (seen {self.seen_at:%Y-%m-%d})"
        )
