"""Dataset services: upload and validation, refused files, split, freeze, delete."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from datasets_app.models import Blob, Dataset, DatasetVersion
from datasets_app.services import (
    DatasetError,
    dataset_delete,
    dataset_upload,
    dataset_version_split,
    version_freeze,
    version_training_blobs,
)
from tests.factories import chat, good_lines, jsonl, upload_file


def upload(team, user, content, **kwargs) -> DatasetVersion:
    return dataset_upload(
        team=team,
        user=user,
        name=kwargs.pop("name", "Support"),
        method=kwargs.pop("method", "supervised"),
        target_model="gpt-4o-mini-2024-07-18",
        uploaded_file=upload_file(content),
        **kwargs,
    )


def test_a_small_upload_is_stored_and_validated_inline(alice, team):
    version = upload(team, alice, good_lines(12))
    assert version.status == "valid" and version.number == 1
    assert version.n_examples == 12 and version.total_tokens > 0
    assert version.blob.path.read_bytes() == jsonl(good_lines(12))
    assert version.dataset.team == team and version.dataset.created_by == alice


def test_a_file_with_line_errors_is_kept_as_an_invalid_version_with_its_report(alice, team):
    lines = good_lines(12)
    lines[4] = {"messages": [{"role": "user", "content": "x"}]}
    version = upload(team, alice, lines)
    assert version.status == "invalid"
    assert version.report["errors"] == [
        {"line": 5, "message": "the last message must come from the assistant"}
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (json.dumps(good_lines(12)).encode(), "one JSON array"),
        (jsonl(good_lines(12)).decode().encode("utf-16"), "UTF-16"),
        (b"PK\x03\x04" + b"\x00" * 100, "ZIP archive"),
    ],
)
def test_a_file_that_cannot_be_jsonl_is_refused_and_nothing_is_stored(alice, team, content, message):
    blobs_before = Blob.objects.count()
    with pytest.raises(DatasetError, match=message):
        upload(team, alice, content)
    assert Dataset.objects.count() == 0 and DatasetVersion.objects.count() == 0
    assert Blob.objects.count() == blobs_before


def test_a_real_zip_renamed_to_jsonl_is_refused(alice, team):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.jsonl", jsonl(good_lines(12)))
    with pytest.raises(DatasetError, match="Unzip it"):
        upload(team, alice, buffer.getvalue())


def test_a_file_over_the_size_limit_is_refused_before_it_is_stored(alice, team, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 100
    with pytest.raises(DatasetError, match=r"The file is 2,080 bytes; the limit is 100 bytes\."):
        upload(team, alice, good_lines(12))
    assert Dataset.objects.count() == 0


def test_a_corrected_file_becomes_the_next_version(alice, team):
    first = upload(team, alice, good_lines(9))
    second = upload(team, alice, good_lines(12), dataset=first.dataset)
    assert (first.status, second.status) == ("invalid", "valid")
    assert second.number == 2 and second.dataset_id == first.dataset_id


def test_the_same_file_uploaded_twice_is_stored_once(alice, team):
    a = upload(team, alice, good_lines(12), name="A")
    b = upload(team, alice, good_lines(12), name="B")
    assert a.blob_id == b.blob_id


def many_lines(n: int = 40) -> list[dict]:
    return [chat(i) for i in range(n)]


def test_the_split_writes_two_new_files_holding_every_example_once(alice, team):
    version = upload(team, alice, many_lines(40))
    version = dataset_version_split(version=version, fraction=0.25, seed=7)
    assert version.train_blob is not None and version.validation_blob is not None
    train = version.train_blob.path.read_bytes().splitlines()
    val = version.validation_blob.path.read_bytes().splitlines()
    assert (len(train), len(val)) == (30, 10)
    assert sorted(train + val) == sorted(jsonl(many_lines(40)).splitlines())
    assert version.blob_id not in (version.train_blob_id, version.validation_blob_id)
    assert (version.split_seed, version.split_fraction) == (7, 0.25)


def test_the_same_seed_gives_the_same_split_and_another_seed_another(alice, team):
    version = upload(team, alice, many_lines(40))
    first = dataset_version_split(version=version, fraction=0.25, seed=7).validation_blob_id
    again = dataset_version_split(version=version, fraction=0.25, seed=7).validation_blob_id
    other = dataset_version_split(version=version, fraction=0.25, seed=8).validation_blob_id
    assert first == again and first != other


def test_the_split_drops_the_bom_and_blank_lines(alice, team):
    version = upload(team, alice, b"\xef\xbb\xbf" + jsonl(many_lines(20)) + b"\n\n")
    version = dataset_version_split(version=version, fraction=0.1, seed=1)
    assert version.train_blob is not None
    train = version.train_blob.path.read_bytes()
    assert not train.startswith(b"\xef\xbb\xbf") and b"\n\n" not in train


def test_the_split_refuses_to_leave_fewer_than_ten_training_examples(alice, team):
    version = upload(team, alice, many_lines(12))
    with pytest.raises(DatasetError, match="Only 6 examples would be left for training"):
        dataset_version_split(version=version, fraction=0.5, seed=1)


def test_an_invalid_version_cannot_be_split_or_frozen(alice, team):
    version = upload(team, alice, good_lines(9))
    with pytest.raises(DatasetError, match="Only a valid version can be split"):
        dataset_version_split(version=version, fraction=0.1, seed=1)
    with pytest.raises(DatasetError, match="Only a valid version can be frozen"):
        version_freeze(version=version, user=alice)


def test_a_reviewer_freezes_a_version_and_it_then_cannot_change(alice, bob, team):
    version = upload(team, alice, many_lines(20))
    version = version_freeze(version=version, user=bob)
    assert version.is_frozen and version.frozen_by == bob
    with pytest.raises(DatasetError, match="frozen"):
        dataset_version_split(version=version, fraction=0.1, seed=1)
    assert version_training_blobs(version=version) == (version.blob, None)


def test_a_launcher_cannot_freeze(alice, team, django_user_model):
    from fineweb.accounts.services import team_add_member

    launcher = django_user_model.objects.create_user(username="lena", password="x")
    team_add_member(team=team, user=launcher, role="launcher")
    version = upload(team, alice, many_lines(20))
    with pytest.raises(DatasetError, match="owner or a reviewer"):
        version_freeze(version=version, user=launcher)
    version.refresh_from_db()
    assert not version.is_frozen


def test_only_a_frozen_version_gives_training_files(alice, team):
    version = upload(team, alice, many_lines(20))
    with pytest.raises(DatasetError, match="Only a frozen version can be trained on"):
        version_training_blobs(version=version)
    version = dataset_version_split(version=version, fraction=0.2, seed=3)
    version = version_freeze(version=version, user=alice)
    assert version_training_blobs(version=version) == (version.train_blob, version.validation_blob)


def test_the_owner_deletes_a_dataset_but_its_files_stay_for_other_versions(alice, team):
    version = upload(team, alice, many_lines(20))
    blob = version.blob
    dataset_delete(dataset=version.dataset, user=alice)
    assert not Dataset.objects.exists() and blob.path.exists()


def test_a_reviewer_who_did_not_upload_cannot_delete(alice, bob, team):
    version = upload(team, alice, many_lines(20))
    with pytest.raises(DatasetError, match="Only a team owner"):
        dataset_delete(dataset=version.dataset, user=bob)
    assert Dataset.objects.count() == 1
