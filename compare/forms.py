"""The playground's form: the message, the settings and up to four columns (a model and its own
system prompt each). Models are posted as "<connection id>:<model id>"; the view resolves the
connection inside the team, the service checks the rest."""

from __future__ import annotations

from django import forms

from compare.services import MAX_COLUMNS, MAX_MESSAGE_CHARS, MAX_SYSTEM_PROMPT_CHARS, MAX_TOKENS_LIMIT

COLUMN_SLOTS = range(MAX_COLUMNS)


class PlaygroundForm(forms.Form):
    message = forms.CharField(
        max_length=MAX_MESSAGE_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Ask the models something"}),
        error_messages={"required": "Write a message to send to the models."},
    )
    blind = forms.BooleanField(required=False, label="Blind A/B (names hidden until you vote)")
    temperature = forms.FloatField(
        required=False, min_value=0, max_value=2, widget=forms.NumberInput(attrs={"step": "0.1"})
    )
    max_tokens = forms.IntegerField(min_value=1, max_value=MAX_TOKENS_LIMIT, initial=256)
    seed = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for i in COLUMN_SLOTS:
            self.fields[f"model_{i}"] = forms.CharField(required=False, max_length=400)
            self.fields[f"system_{i}"] = forms.CharField(
                required=False,
                strip=False,  # a prompt is sent as written
                max_length=MAX_SYSTEM_PROMPT_CHARS,
                widget=forms.Textarea(
                    attrs={"rows": 3, "placeholder": "System prompt of this column (optional)"}
                ),
            )

    def columns(self) -> list[tuple[int, str, str]]:
        """(connection id, model id, system prompt) of every column with a model picked."""
        out = []
        for i in COLUMN_SLOTS:
            value = (self.cleaned_data.get(f"model_{i}") or "").strip()
            if not value:
                continue
            connection_id, _, model = value.partition(":")
            if not connection_id.isdigit() or not model:
                raise forms.ValidationError(
                    "One of the picked models is not one fineweb offered; pick it again."
                )
            out.append((int(connection_id), model, self.cleaned_data.get(f"system_{i}") or ""))
        return out
