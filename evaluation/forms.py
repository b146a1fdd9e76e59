"""The new-run form: checks what a person typed; the run itself is services.run_create."""

from __future__ import annotations

from typing import Any

from django import forms

from datasets_app.models import DatasetVersion
from evaluation import language, scorers, services
from jobs.models import Job
from providers.models import Connection

MODEL_ROWS = 3  # the form offers three model rows; the third is optional (the services allow 4)
SCORER_KINDS = list(scorers.SCORERS)


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.dataset.name} v{obj.number} ({obj.n_examples:,} examples)"


class ConnectionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.name


class RunForm(forms.Form):
    name = forms.CharField(
        max_length=200, required=False, help_text="Optional; the dataset and split by default."
    )
    version = VersionChoiceField(queryset=DatasetVersion.objects.none(), label="Dataset version")
    split = forms.ChoiceField(
        choices=list(services.SPLITS.items()),
        initial="validation",
        help_text="The validation split holds examples the fine-tune never saw.",
    )
    max_tokens = forms.IntegerField(min_value=1, max_value=4096, initial=256, label="Longest reply (tokens)")
    # Scorers: a checkbox each, with their settings.
    scorer_kinds = forms.MultipleChoiceField(
        choices=[(k, s.title) for k, s in scorers.SCORERS.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Scorers",
    )
    regex_pattern = forms.CharField(required=False, label="Regular expression")
    json_schema = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), label="JSON Schema"
    )
    json_fields = forms.CharField(
        required=False, label="JSON fields to compare", help_text="Separated by commas."
    )
    language = forms.ChoiceField(
        choices=list(language.LANGUAGES.items()), initial="de", label="Expected language"
    )
    # The judge.
    judge_mode = forms.ChoiceField(
        choices=[
            ("", "No judge"),
            ("score", "Score 1-5"),
            ("pass_fail", "Pass or fail"),
            ("pairwise", "Pairwise (asked twice, swapped)"),
        ],
        required=False,
        label="LLM judge",
    )
    judge_connection = ConnectionChoiceField(
        queryset=Connection.objects.none(), required=False, label="Judge's connection"
    )
    judge_model = forms.CharField(required=False, label="Judge model")
    judge_rubric = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Rubric")

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        versions = DatasetVersion.objects.filter(
            dataset__team=team, status=DatasetVersion.Status.VALID
        ).select_related("dataset")
        self.fields["version"].queryset = versions  # type: ignore[attr-defined]
        connections = Connection.objects.filter(team=team)
        self.fields["judge_connection"].queryset = connections  # type: ignore[attr-defined]
        for i in range(MODEL_ROWS):
            required = i < 2
            self.fields[f"m{i}_connection"] = ConnectionChoiceField(
                queryset=connections, required=required, label="Connection"
            )
            self.fields[f"m{i}_model"] = forms.CharField(max_length=300, required=required, label="Model")
            self.fields[f"m{i}_label"] = forms.CharField(
                max_length=100, required=False, label="Name on the page"
            )
            self.fields[f"m{i}_prompt"] = forms.CharField(
                required=False, widget=forms.Textarea(attrs={"rows": 2}), label="System prompt (optional)"
            )

    def model_rows(self) -> list[dict[str, Any]]:
        return [
            {name: self[f"m{i}_{name}"] for name in ("connection", "model", "label", "prompt")}
            for i in range(MODEL_ROWS)
        ]

    def scorer_rows(self) -> list[dict[str, str]]:
        return [
            {
                "kind": k,
                "title": s.title,
                "explanation": s.explanation({"kind": k, "expected": "de", "pattern": "…"}),
            }
            for k, s in scorers.SCORERS.items()
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        choices = []
        for i in range(MODEL_ROWS):
            connection, model = data.get(f"m{i}_connection"), (data.get(f"m{i}_model") or "").strip()
            if not connection and not model:
                continue
            if not connection or not model:
                self.add_error(
                    f"m{i}_model", "Give both the connection and the model name, or leave the row empty."
                )
                continue
            choices.append(
                services.ModelChoice(
                    connection=connection,
                    model=model,
                    label=data.get(f"m{i}_label") or model,
                    system_prompt=data.get(f"m{i}_prompt") or "",
                )
            )
        data["choices"] = choices
        configs = []
        for kind in data.get("scorer_kinds") or []:
            config = {
                "kind": kind,
                "pattern": data.get("regex_pattern", ""),
                "schema": data.get("json_schema", ""),
                "fields": data.get("json_fields", ""),
                "expected": data.get("language", ""),
            }
            try:
                configs.append(scorers.clean_config(config))
            except scorers.ScorerConfigError as exc:
                field = {
                    "regex": "regex_pattern",
                    "json_schema": "json_schema",
                    "json_fields": "json_fields",
                    "language": "language",
                }.get(kind)
                self.add_error(field, str(exc))
        data["scorer_configs"] = configs
        judge = None
        if data.get("judge_mode"):
            if not data.get("judge_connection") or not (data.get("judge_model") or "").strip():
                self.add_error("judge_model", "Pick the judge's connection and name its model.")
            elif not (data.get("judge_rubric") or "").strip():
                self.add_error("judge_rubric", "Write the rubric the judge grades the replies with.")
            else:
                judge = {
                    "mode": data["judge_mode"],
                    "connection": data["judge_connection"],
                    "model": data["judge_model"].strip(),
                    "rubric": data["judge_rubric"],
                }
        data["judge"] = judge
        if not configs and not judge and not self.errors:
            raise forms.ValidationError("Pick at least one scorer or the LLM judge.")
        return data


def initial_from_job(job: Job | None) -> dict[str, Any]:
    """The form's defaults for a job: its version's validation split, its base and fine-tuned models."""
    if job is None:
        return {"split": "validation", "max_tokens": 256, "language": "de"}
    initial: dict[str, Any] = {"max_tokens": 256, "language": "de", "scorer_kinds": ["exact", "length"]}
    if job.dataset_version is not None:
        initial["version"] = job.dataset_version.id
        initial["split"] = "validation" if job.dataset_version.validation_blob_id else "all"
    initial.update(
        m0_connection=job.connection_id,
        m0_model=job.base_model,
        m0_label="Base",
        m1_connection=job.connection_id,
        m1_model=job.fine_tuned_model,
        m1_label="Fine-tune",
        judge_connection=job.connection_id,
    )
    return initial
