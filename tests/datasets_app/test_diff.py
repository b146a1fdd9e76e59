"""The diff between two versions: added, removed and changed examples, changed words marked."""

from __future__ import annotations

import hashlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasets_app import diffing
from datasets_app.models import Blob, Dataset, DatasetVersion
from datasets_app.services import dataset_upload, version_derive
from tests.factories import blob_from_lines, chat, upload_file


def version_of(dataset: Dataset, number: int, lines: list, parent=None) -> DatasetVersion:
    blob = blob_from_lines(lines) if all(isinstance(x, dict) for x in lines) else _raw_blob(lines)
    return DatasetVersion.objects.create(
        dataset=dataset, number=number, blob=blob, status="valid", report={"stats": {}}, parent=parent
    )


def _raw_blob(lines: list) -> Blob:
    content = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()
    sha = hashlib.sha256(content).hexdigest()
    blob, _ = Blob.objects.get_or_create(sha256=sha, defaults={"size": len(content)})
    blob.path.parent.mkdir(parents=True, exist_ok=True)
    blob.path.write_bytes(content)
    return blob


def kinds(diff) -> list[tuple[str, int, int]]:
    return diff.entries


def test_added_removed_changed_and_moved_examples(team):
    dataset = Dataset.objects.create(team=team, name="d")
    old = [chat(i) for i in range(10)]
    new = list(old)
    new[3] = chat(3, answer="Antwort Nummer drei, besser.")  # fixed in place: changed
    del new[7]  # removed
    new.append(chat(50))  # added at the end
    new.insert(0, new.pop(5))  # moved to the front: unchanged
    a, b = version_of(dataset, 1, old), version_of(dataset, 2, new)

    diff = diffing.diff_versions(a, b)

    assert (diff.n_changed, diff.n_added, diff.n_removed, diff.n_same) == (1, 1, 1, 8)
    assert ("changed", 3, 4) in diff.entries  # b has the moved example in front of it
    assert ("removed", 7, -1) in diff.entries
    assert ("added", -1, 9) in diff.entries


def test_key_order_and_spacing_do_not_count_as_changes(team):
    dataset = Dataset.objects.create(team=team, name="d")
    old = [chat(i) for i in range(5)]
    respaced = [
        json.dumps(
            {"messages": [dict(reversed(m.items())) for m in e["messages"]]},
            indent=None,
            separators=(" , ", " : "),
        )
        for e in old
    ]
    diff = diffing.diff_versions(version_of(dataset, 1, old), version_of(dataset, 2, respaced))
    assert diff.entries == [] and diff.n_same == 5


def test_a_removed_duplicate_is_removed_once(team):
    dataset = Dataset.objects.create(team=team, name="d")
    old = [chat(1), chat(2), chat(1), chat(3)]
    diff = diffing.diff_versions(
        version_of(dataset, 1, old), version_of(dataset, 2, [chat(1), chat(2), chat(3)])
    )
    assert (diff.n_removed, diff.n_same, diff.n_added, diff.n_changed) == (1, 3, 0, 0)


def test_the_diff_of_two_files_is_computed_once_and_read_back_the_same(team):
    dataset = Dataset.objects.create(team=team, name="d")
    a = version_of(dataset, 1, [chat(i) for i in range(30)])
    b = version_of(dataset, 2, [chat(i) for i in range(30) if i % 7] + [chat(99)])
    first = diffing.diff_versions(a, b)
    stored = diffing.STORE.root / "diffs" / f"{a.blob.sha256}-{b.blob.sha256}"
    assert stored.exists()
    again = diffing.diff_versions(a, b)
    assert again.entries == first.entries and again.entries != []
    assert (again.n_same, again.n_added, again.n_removed, again.n_changed) == (
        first.n_same,
        first.n_added,
        first.n_removed,
        first.n_changed,
    )
    assert list(again.positions("removed")) == [k for k, e in enumerate(first.entries) if e[0] == "removed"]


def test_the_index_is_built_once_and_kept_beside_the_store(team):
    dataset = Dataset.objects.create(team=team, name="d")
    a = version_of(dataset, 1, [chat(i) for i in range(3)])
    first = diffing.file_index(a.blob)
    stored = diffing._index_path(a.blob)
    assert stored.exists()
    again = diffing.file_index(a.blob)
    assert again.hashes == first.hashes and list(again.offsets) == list(first.offsets)
    with diffing.LineReader(a.blob) as reader:
        assert [reader.read(i) for i in (2, 0, 1)] == [
            a.blob.path.read_bytes().splitlines()[i] for i in (2, 0, 1)
        ]


def test_word_diff_marks_only_the_changed_words():
    runs = diffing.word_diff("The cat sat on the mat.", "The dog sat on the red mat.")
    assert "".join(t for op, t in runs if op != "insert") == "The cat sat on the mat."
    assert "".join(t for op, t in runs if op != "delete") == "The dog sat on the red mat."
    assert ("delete", "cat") in runs and ("insert", "dog") in runs
    assert not any("sat" in t for op, t in runs if op != "equal")
    joined = diffing.word_diff("one two three four", "one five six four")
    assert joined == [("equal", "one "), ("delete", "two three"), ("insert", "five six"), ("equal", " four")]


def test_the_page_shows_counts_and_marks_the_changed_words(alice, team, alice_client):
    parent = dataset_upload(
        team=team, user=alice, name="Support", uploaded_file=upload_file([chat(i) for i in range(12)])
    )
    examples = [chat(i) for i in range(12)]
    examples[2] = chat(2, answer="Antwort Nummer <script>alert(1)</script> zwei.")
    del examples[5]
    child = version_derive(parent=parent, examples=examples, user=alice, note="fixes", freeze=False)

    page = alice_client.get(f"/datasets/{parent.dataset_id}/diff/?a=1&b={child.number}")

    body = page.content.decode()
    assert page.status_code == 200
    assert body.count('data-testid="diff-changed"') == 1 and body.count('data-testid="diff-removed"') == 1
    assert "Antwort Nummer <del>2.</del><ins>&lt;script&gt;alert(1)&lt;/script&gt; zwei.</ins>" in body
    assert "<script>alert" not in body
    version_page = alice_client.get(f"/datasets/{parent.dataset_id}/v/{child.number}/").content.decode()
    assert 'data-testid="version-diff-picker"' in version_page and "what changed" in version_page
    assert "<q>fixes</q>" in version_page


def test_the_default_compares_a_version_with_its_parent(alice, team, alice_client):
    parent = dataset_upload(
        team=team, user=alice, name="S", uploaded_file=upload_file([chat(i) for i in range(12)])
    )
    child = version_derive(
        parent=parent, examples=[chat(i) for i in range(11)], user=alice, note="", freeze=False
    )
    body = alice_client.get(f"/datasets/{parent.dataset_id}/diff/?b={child.number}").content.decode()
    assert body.count('data-testid="diff-removed"') == 1
    assert '<option value="1" selected>' in body


def test_pages_of_a_long_diff_and_its_htmx_partial(team, alice_client):
    dataset = Dataset.objects.create(team=team, name="d")
    old = [chat(i) for i in range(60)]
    new = [chat(i, answer=f"Neu {i}.") if i < 45 else chat(i) for i in range(60)]
    version_of(dataset, 1, old), version_of(dataset, 2, new)
    url = f"/datasets/{dataset.id}/diff/?a=1&b=2&show=changed"
    first = alice_client.get(url).content.decode()
    assert first.count('data-testid="diff-changed"') == diffing_per_page()
    assert "page 1 of 3 (45 examples)" in first
    last = alice_client.get(url + "&page=3", HTTP_HX_REQUEST="true").content.decode()
    assert last.count('data-testid="diff-changed"') == 5 and "<html" not in last
    assert "example 45 of v1" in last
    added_only = alice_client.get(f"/datasets/{dataset.id}/diff/?a=1&b=2&show=added").content.decode()
    assert 'data-testid="diff-empty"' in added_only and "Nothing of this kind" in added_only


def diffing_per_page() -> int:
    from datasets_app.selectors import DIFF_PER_PAGE

    return DIFF_PER_PAGE


def test_a_version_against_itself_and_lines_that_are_not_json(team, alice_client):
    dataset = Dataset.objects.create(team=team, name="d")
    version_of(dataset, 1, [chat(1), "not json at all <b>", chat(2)])
    version_of(dataset, 2, [chat(1), "not json either", chat(2)])
    same = alice_client.get(f"/datasets/{dataset.id}/diff/?a=1&b=1").content.decode()
    assert "Pick two different versions" in same
    body = alice_client.get(f"/datasets/{dataset.id}/diff/?a=1&b=2").content.decode()
    assert "not json <del>at all &lt;b&gt;</del><ins>either</ins>" in body
    assert 'class="bubble line diff-changed"' in body


def test_an_outsider_gets_404(team, charlie_client):
    dataset = Dataset.objects.create(team=team, name="d")
    version_of(dataset, 1, [chat(1)])
    assert charlie_client.get(f"/datasets/{dataset.id}/diff/?a=1&b=1").status_code == 404


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.text(max_size=8), b=st.text(max_size=8), page=st.text(max_size=8), show=st.text(max_size=8))
def test_any_query_string_gives_a_page_never_a_500(team, alice_client, a, b, page, show):
    dataset = Dataset.objects.filter(team=team, name="q").first() or Dataset.objects.create(
        team=team, name="q"
    )
    if not dataset.versions.exists():
        version_of(dataset, 1, [chat(1), chat(2)])
        version_of(dataset, 2, [chat(1), chat(3)])
    response = alice_client.get(f"/datasets/{dataset.id}/diff/", {"a": a, "b": b, "page": page, "show": show})
    assert response.status_code == 200
