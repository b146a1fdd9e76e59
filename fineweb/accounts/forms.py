from __future__ import annotations

from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator

from fineweb.accounts.models import Membership

ROLE_HELP: dict[str, str] = {
    Membership.Role.OWNER: "everything the others do, and also freezes datasets, settles disagreements, adds connections and manages the team",
    Membership.Role.REVIEWER: "approves, rejects, comments on and fixes examples",
    Membership.Role.LAUNCHER: "launches jobs and evaluation runs, compares models; reads the reviews",
}


class MemberAddForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @ . + - _ only.",
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.REVIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
