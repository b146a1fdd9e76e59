"""Re-encrypt every stored provider API key with the first key in FINEWEB_FERNET_KEYS."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from providers.services import provider_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every provider API key with the first FINEWEB_FERNET_KEYS key. Run it after putting a new key "
        "first; once it reports no unreadable keys, the old key can be removed. See docs/operations.md."
    )

    def handle(self, *args, **options):
        rotated, unreadable = provider_keys_rotate()
        self.stdout.write(f"Re-encrypted {rotated} provider key(s) with the first FINEWEB_FERNET_KEYS key.")
        if unreadable:
            raise CommandError(
                f"{unreadable} key(s) could not be decrypted with any FINEWEB_FERNET_KEYS key; "
                "their owners must enter them again on the Connections page."
            )
