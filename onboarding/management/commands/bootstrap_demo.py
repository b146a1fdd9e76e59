"""Create the demo team and its owner on first start; say how to log in on every start."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from fineweb.accounts.services import user_create
from onboarding.services import team_create

DEMO_USERNAME = "owner"


class Command(BaseCommand):
    help = "Create a demo team with an owner login (the password is printed once, at creation)."

    def handle(self, *args, **options):
        User = get_user_model()
        user = User.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = user_create(username=DEMO_USERNAME, password=password)
            team_create(name="Demo team", owner=user, with_demo_data=True)
            self.stdout.write(f"LOGIN username={DEMO_USERNAME} password={password}")
            self.stdout.write("(The password is shown this once; change it after logging in.)")
        else:
            self.stdout.write(
                f"LOGIN username={DEMO_USERNAME} (password shown at first start; "
                f"reset it with: .venv/bin/python manage.py changepassword {DEMO_USERNAME})"
            )
