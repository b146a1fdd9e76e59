"""In Chromium: a derived version's lineage, the diff against its parent, the jobs panel and an export.
Saves docs/screenshots/dataset-diff.png and dataset-version-lineage.png (shown in the README)."""

from __future__ import annotations

import json

import pytest

from datasets_app.demo import SAMPLE
from datasets_app.services import dataset_upload, version_derive
from tests.e2e.browser import login, screenshot
from tests.factories import PASSWORD, make_connection, make_job, upload_file

pytestmark = pytest.mark.e2e


def test_lineage_diff_jobs_panel_and_export(browser_page, live_server, alice, team):
    lines = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    parent = dataset_upload(team=team, user=alice, name="Support answers", uploaded_file=upload_file(lines))
    kept = [json.loads(json.dumps(e)) for e in lines]
    answer = kept[1]["messages"][-1]
    answer["content"] = answer["content"].rstrip(".") + ", und vielen Dank für Ihre Geduld."
    del kept[4]
    del kept[9]
    child = version_derive(parent=parent, examples=kept, user=alice, note="approved and fixed", freeze=True)
    job = make_job(team, child, make_connection(team), fine_tuned_model="ft:gpt-4o-mini:support-v2")

    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/datasets/{child.dataset_id}/v/{child.number}/")
    assert "Made from v1" in page.inner_text('[data-testid="lineage"]')
    page.wait_for_selector('[data-testid="version-jobs"]')  # the jobs panel, loaded by htmx
    assert f"#{job.id}" in page.inner_text('[data-testid="version-jobs"]')
    assert page.locator('[data-testid="export-openai-chat"] a').count() >= 1
    with page.expect_download() as download:
        page.click('[data-testid="export-together-chat"] a.button')
    exported = [json.loads(x) for x in open(download.value.path(), encoding="utf-8").read().splitlines()]
    assert len(exported) == len(kept) and exported[1]["messages"][-1]["content"] == answer["content"]
    page.locator("#export").scroll_into_view_if_needed()
    screenshot(page, "dataset-version-lineage.png")

    page.click('[data-testid="version-diff-picker"] button')
    page.wait_for_url("**/diff/**")
    counts = page.inner_text("#diff-counts")
    assert "1\nchanged" in counts and "2\nremoved" in counts and "0\nadded" in counts
    marked = page.locator(".diff-example.changed ins").first.inner_text()
    assert "vielen Dank" in marked
    assert page.locator('[data-testid="diff-removed"]').count() == 2
    screenshot(page, "dataset-diff.png")

    page.goto(f"{live_server.url}/jobs/{job.id}/")
    page.click('[data-testid="job-version"]')
    page.wait_for_url(f"**/v/{child.number}/")
