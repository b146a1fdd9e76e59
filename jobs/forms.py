"""The launch form: checks what a person typed; the launch itself is services.job_launch."""

from __future__ import annotations

import re
from typing import cast

from django import forms
from django.urls import reverse_lazy

from datasets_app.models import DatasetVersion
from jobs.models import Job
from providers.models import Connection

AUTO = "auto"

# One sentence per hyperparameter, shown under its field.
HELP = {
    "n_epochs": "How many times the model reads the whole dataset. More epochs fit the examples more closely "
    'but can make the model repeat them; "auto" picks a number from the dataset size.',
    "batch_size": "How many examples the model learns from at once. Larger batches are steadier but need more "
    'data; "auto" lets the provider choose.',
    "learning_rate_multiplier": "How big each learning step is, relative to the provider's default. Lower is "
    'safer, higher learns faster; "auto" is usually right.',
    "beta": 'DPO only: how strongly the model is kept close to the base model. Higher stays closer; "auto" is '
    "the provider's default.",
    "suffix": "A short name added to the fine-tuned model's name so you can recognise it (letters, digits, - and _).",
    "seed": "Optional. The same seed and data give the same run again, where the provider supports it.",
}


def _auto_or_number(value: str | None, *, kind, low, high, label: str):
    value = (value or "").strip().lower()
    if value in ("", AUTO):
        return AUTO
    try:
        number = kind(value)
    except ValueError as exc:
        raise forms.ValidationError(f'{label} must be "auto" or a number.') from exc
    if not low <= number <= high:
        raise forms.ValidationError(f'{label} must be between {low} and {high}, or "auto".')
    return number


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.dataset.name} v{obj.number} ({obj.n_examples:,} examples, {obj.dataset.get_method_display()})"


class ConnectionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.name


class LaunchForm(forms.Form):
    version = VersionChoiceField(
        queryset=DatasetVersion.objects.none(),
        label="Dataset version",
        empty_label="Choose a frozen version…",
    )
    # Picking another connection reloads the base models it can fine-tune (jobs/new.html#models).
    connection = ConnectionChoiceField(
        queryset=Connection.objects.none(),
        label="Provider connection",
        widget=forms.Select(
            attrs={
                "hx-get": reverse_lazy("jobs:new_models"),
                "hx-target": "#models",
                "hx-include": "#launch-form",
                "hx-trigger": "change",
            }
        ),
    )
    base_model = forms.ChoiceField(choices=(), label="Base model")
    n_epochs = forms.CharField(initial=AUTO, label="Epochs", help_text=HELP["n_epochs"])
    batch_size = forms.CharField(initial=AUTO, label="Batch size", help_text=HELP["batch_size"])
    learning_rate_multiplier = forms.CharField(
        initial=AUTO, label="Learning rate multiplier", help_text=HELP["learning_rate_multiplier"]
    )
    beta = forms.CharField(initial=AUTO, required=False, label="DPO beta", help_text=HELP["beta"])
    suffix = forms.CharField(
        required=False, max_length=40, label="Model name suffix", help_text=HELP["suffix"]
    )
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        label="Seed",
        help_text=HELP["seed"],
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    confirm_over_budget = forms.BooleanField(
        required=False, label="I am an owner and approve going over the budget"
    )
    launch_token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, team, models: list[str], method: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method
        cast(forms.ModelChoiceField, self.fields["version"]).queryset = (
            DatasetVersion.objects.filter(dataset__team=team, frozen_at__isnull=False)
            .select_related("dataset")
            .order_by("dataset__name", "-number")
        )
        connections = Connection.objects.filter(team=team).order_by("name")
        connection_field = cast(forms.ModelChoiceField, self.fields["connection"])
        connection_field.queryset = connections
        connection_field.empty_label = None if connections.exists() else "No connection yet"
        cast(forms.ChoiceField, self.fields["base_model"]).choices = [(m, m) for m in models]

    @property
    def setting_fields(self):
        names = ["n_epochs", "batch_size", "learning_rate_multiplier"]
        if self.method == Job.Method.DPO:
            names.append("beta")
        return [self[name] for name in (*names, "suffix", "seed")]

    def clean_n_epochs(self):
        return _auto_or_number(self.cleaned_data["n_epochs"], kind=int, low=1, high=50, label="Epochs")

    def clean_batch_size(self):
        return _auto_or_number(self.cleaned_data["batch_size"], kind=int, low=1, high=256, label="Batch size")

    def clean_learning_rate_multiplier(self):
        return _auto_or_number(
            self.cleaned_data["learning_rate_multiplier"],
            kind=float,
            low=0.01,
            high=10.0,
            label="Learning rate multiplier",
        )

    def clean_beta(self):
        return _auto_or_number(
            self.cleaned_data.get("beta"), kind=float, low=0.01, high=2.0, label="DPO beta"
        )

    def clean_suffix(self):
        suffix = self.cleaned_data["suffix"].strip()
        if suffix and not re.fullmatch(r"[A-Za-z0-9_-]+", suffix):
            raise forms.ValidationError("Use only letters, digits, - and _ in the suffix.")
        return suffix

    def hyperparameters(self, method: str) -> dict:
        data = self.cleaned_data
        hp = {k: data[k] for k in ("n_epochs", "batch_size", "learning_rate_multiplier")}
        if method == Job.Method.DPO:
            hp["beta"] = data.get("beta") or AUTO
        return hp
