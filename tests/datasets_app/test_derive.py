"""version_derive: a new immutable file of examples, with its lineage, statistics and freeze flag."""

from __future__ import annotations

import hashlib
import json
import re

import orjson
import pytest

from datasets_app.canonical import content_hash
from datasets_app.models import DatasetVersion
from datasets_app.services import (
    DatasetError,
    dataset_upload,
    dataset_version_split,
    version_derive,
    version_freeze,
)
from fineweb.accounts.models import Membership
from fineweb.accounts.services import team_add_member, user_create
from tests.factories import chat, good_lines, upload_file
from tests.processes import wait_for


def parent_version(team, user, lines=None) -> DatasetVersion:
    return dataset_upload(
        team=team, user=user, name="Support", uploaded_file=upload_file(lines or good_lines(20))
    )


def read_examples(version: DatasetVersion) -> list[dict]:
    return [json.loads(line) for line in version.blob.path.read_bytes().splitlines()]


def test_a_derived_draft_is_a_new_content_addressed_file_with_its_parent(alice, team):
    parent = parent_version(team, alice)
    parent_bytes = parent.blob.path.read_bytes()
    parent_report = dict(parent.report)
    kept = [chat(i) for i in range(20) if i % 4]  # drop every fourth
    kept[0] = chat(1, answer="Eine bessere Antwort.")  # and fix one

    version = version_derive(parent=parent, examples=kept, user=alice, note="approved only", freeze=False)

    content = version.blob.path.read_bytes()
    assert version.blob.sha256 == hashlib.sha256(content).hexdigest()
    assert version.blob.size == len(content)
    assert version.blob.path.parent.name == version.blob.sha256[:2]
    assert read_examples(version) == kept
    assert version.parent == parent and version.note == "approved only" and version.created_by == alice
    assert version.dataset_id == parent.dataset_id and version.number == 2
    assert version.status == "valid" and not version.is_frozen
    assert version.n_examples == 15 and version.stats["n_examples"] != parent.stats["n_examples"]
    assert 0 < version.total_tokens < parent.total_tokens
    parent.refresh_from_db()
    assert parent.blob.path.read_bytes() == parent_bytes and parent.report == parent_report
    assert not parent.is_frozen and parent.number == 1


def test_the_serialisation_is_stable_so_the_same_examples_give_the_same_blob(alice, team):
    parent = parent_version(team, alice)
    examples = [chat(i) for i in range(12)]
    reordered = [{"messages": [dict(reversed(list(m.items()))) for m in e["messages"]]} for e in examples]
    first = version_derive(parent=parent, examples=examples, user=alice, note="", freeze=False)
    second = version_derive(parent=parent, examples=reordered, user=alice, note="", freeze=False)
    assert first.blob_id == second.blob_id and first.number != second.number
    line = first.blob.path.read_bytes().splitlines()[0]
    assert line == orjson.dumps(examples[0], option=orjson.OPT_SORT_KEYS)


def test_statistics_and_cost_are_computed_again_from_the_new_file(alice, team, client):
    parent = parent_version(team, alice)
    longer = [chat(i, answer="Eine sehr lange Antwort " * (i + 1)) for i in range(12)]
    version = version_derive(parent=parent, examples=longer, user=alice, note="", freeze=False)
    assert version.total_tokens > parent.total_tokens
    assert version.stats["tokens_max"] > parent.stats["tokens_max"]
    client.force_login(alice)
    body = client.get(f"/datasets/{parent.dataset_id}/v/{version.number}/").content.decode()
    assert f"{version.total_tokens:,}" in body


def test_freeze_true_freezes_the_new_version_for_the_launch_form(alice, team, client):
    parent = parent_version(team, alice)
    version = version_derive(parent=parent, examples=good_lines(15), user=alice, note="", freeze=True)
    assert version.is_frozen and version.frozen_by == alice
    client.force_login(alice)
    page = client.get("/jobs/new/").content.decode()
    select = re.search(r'<select name="version".*?</select>', page, re.S)
    assert select is not None
    assert f'value="{version.id}"' in select.group() and f'value="{parent.id}"' not in select.group()


def test_freeze_true_with_an_invalid_result_raises_and_keeps_nothing(alice, team):
    parent = parent_version(team, alice)
    broken = good_lines(12)
    broken[3] = {"messages": [{"role": "user", "content": "no answer"}]}
    with pytest.raises(DatasetError, match=r"could not be frozen.*example 4: the last message"):
        version_derive(parent=parent, examples=broken, user=alice, note="", freeze=True)
    assert list(parent.dataset.versions.values_list("number", flat=True)) == [1]


def test_freeze_false_with_an_invalid_result_keeps_an_invalid_draft(alice, team):
    parent = parent_version(team, alice)
    version = version_derive(parent=parent, examples=good_lines(5), user=alice, note="", freeze=False)
    assert version.status == "invalid" and "at least 10" in version.report["errors"][0]["message"]


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        ([], "no examples to keep"),
        ([chat(1), ["not", "a", "dict"]], "Example 2 is not a conversation"),
        ([chat(1), {"messages": [{"role": "user", "content": {1, 2}}]}], "Example 2 cannot be written"),
    ],
)
def test_bad_examples_are_refused_with_a_sentence(alice, team, examples, message):
    parent = parent_version(team, alice)
    with pytest.raises(DatasetError, match=message):
        version_derive(parent=parent, examples=examples, user=alice, note="", freeze=False)
    assert parent.dataset.versions.count() == 1


def test_only_owners_and_reviewers_derive_and_outsiders_cannot(alice, team, bob, charlie):
    parent = parent_version(team, alice)
    launcher = user_create(username="lena", password="pw-lena-12345")
    team_add_member(team=team, user=launcher, role=Membership.Role.LAUNCHER)
    for user in (launcher, charlie):
        with pytest.raises(DatasetError, match="Only an owner or a reviewer"):
            version_derive(parent=parent, examples=good_lines(12), user=user, note="", freeze=False)
    version = version_derive(parent=parent, examples=good_lines(12), user=bob, note="fix", freeze=True)
    assert version.frozen_by == bob


def test_a_frozen_parent_stays_frozen_and_unchanged(alice, team):
    parent = parent_version(team, alice)
    version_freeze(version=parent, user=alice)
    before = DatasetVersion.objects.values().get(id=parent.id)
    child = version_derive(parent=parent, examples=good_lines(14), user=alice, note="", freeze=False)
    assert DatasetVersion.objects.values().get(id=parent.id) == before
    assert not child.is_frozen and child.parent_id == parent.id
    grandchild = version_derive(parent=child, examples=good_lines(13), user=alice, note="", freeze=True)
    assert grandchild.lineage == [child, parent]


def test_the_parents_split_carries_over_to_the_examples_that_stay(alice, team):
    lines = [chat(i) for i in range(40)]
    parent = dataset_version_split(version=parent_version(team, alice, lines), fraction=0.25, seed=7)
    assert parent.validation_blob is not None
    held_out = {content_hash(raw) for raw in parent.validation_blob.path.read_bytes().splitlines()}
    kept = lines[:30] + [chat(100 + i, answer=f"Neu {i}.") for i in range(30)]

    version = version_derive(parent=parent, examples=kept, user=alice, note="", freeze=True)

    assert version.is_frozen and version.split_seed == 7 and version.split_fraction == 0.25
    assert version.train_blob is not None and version.validation_blob is not None
    new_val = [content_hash(r) for r in version.validation_blob.path.read_bytes().splitlines()]
    new_train = [content_hash(r) for r in version.train_blob.path.read_bytes().splitlines()]
    old = {content_hash(orjson.dumps(e)) for e in lines[:30]}
    assert {h for h in new_val if h in old} == held_out & old, "held-out examples stay held out"
    assert not held_out & set(new_train)
    assert len(new_val) + len(new_train) == 60
    assert 0 < len([h for h in new_val if h not in old]) < 30, "new examples are spread by hash"
    again = version_derive(parent=parent, examples=kept, user=alice, note="", freeze=False)
    assert again.validation_blob_id == version.validation_blob_id, "the same examples, the same split"


@pytest.mark.worker
def test_a_large_derived_version_is_validated_and_frozen_by_the_worker(start_worker, alice, settings):
    team = alice.memberships.get().team
    parent = parent_version(team, alice)
    settings.DATASET_INLINE_VALIDATE_BYTES = 10_000
    start_worker(queues="default", extra_env={"FINEWEB_DATASET_INLINE_VALIDATE_BYTES": "10000"})
    examples = (chat(i, answer=f"Antwort {i} " + "gut " * 20) for i in range(600))

    version = version_derive(parent=parent, examples=examples, user=alice, note="big", freeze=True)

    assert version.status == "validating" and not version.is_frozen
    done = wait_for(
        lambda: DatasetVersion.objects.filter(id=version.id, frozen_at__isnull=False).first(),
        timeout=120,
        message="the worker to validate and freeze the derived version",
    )
    assert done.status == "valid" and done.n_examples == 600 and done.frozen_by == alice
