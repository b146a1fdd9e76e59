from __future__ import annotations

from typing import cast

from django import forms
from django.conf import settings

from datasets_app.models import Dataset
from fineweb.lib.catalogue import DEFAULT_MODEL, MODEL_CHOICES, model_choices


class UploadForm(forms.Form):
    file = forms.FileField(
        label="JSONL file",
        help_text="One JSON example per line (.jsonl).",
        error_messages={"empty": "The file is empty: it needs one JSON example per line."},
    )
    name = forms.CharField(max_length=200, required=False, help_text="Leave empty to use the file's name.")
    method = forms.ChoiceField(
        choices=Dataset.Method.choices,
        initial=Dataset.Method.SUPERVISED,
        help_text="Supervised: conversations to imitate. DPO: a prompt with a better and a worse answer.",
    )
    target_model = forms.ChoiceField(
        choices=MODEL_CHOICES,
        initial=DEFAULT_MODEL,
        help_text="Decides how tokens are counted, the longest example allowed and the price.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only models that can still be fine-tuned today (the catalogue's dated lifecycle table).
        cast(forms.ChoiceField, self.fields["target_model"]).choices = model_choices()

    @property
    def max_bytes(self) -> int:
        return settings.DATASET_MAX_UPLOAD_BYTES


class VersionUploadForm(forms.Form):
    file = forms.FileField(
        label="Corrected JSONL file",
        error_messages={"empty": "The file is empty: it needs one JSON example per line."},
    )


class SplitForm(forms.Form):
    fraction = forms.FloatField(
        min_value=0.01,
        max_value=0.5,
        initial=0.1,
        label="Validation share",
        help_text="The share of examples held out to measure the model (0.1 = 10%).",
    )
    seed = forms.IntegerField(
        initial=42, label="Seed", help_text="The same seed always gives the same split."
    )
