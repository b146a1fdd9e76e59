from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from datasets_app.demo import SAMPLE
from datasets_app.models import Dataset
from datasets_app.validation import validate_file


def test_the_shipped_sample_is_valid_and_answers_in_german():
    report = validate_file(SAMPLE)
    assert report.ok and report.warnings == []
    assert 20 <= report.stats["n_examples"] <= 40


def test_bootstrap_demo_loads_the_sample_dataset_into_the_demo_team_ready_to_use(db):
    call_command("bootstrap_demo", stdout=StringIO())
    dataset = Dataset.objects.get()
    version = dataset.latest_version
    assert dataset.created_by is not None and version is not None
    assert dataset.team.name == "Demo team" and dataset.created_by.username == "owner"
    assert version.status == "valid" and version.n_examples == 30
    call_command("bootstrap_demo", stdout=StringIO())
    assert Dataset.objects.count() == 1, "a second start loads nothing twice"
