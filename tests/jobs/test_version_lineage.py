"""Lineage: a version's page lists the jobs trained on it; a job's page links its exact version and its parents."""

from __future__ import annotations

import re

from datasets_app.services import dataset_upload, version_derive
from tests.factories import chat, make_connection, make_job, upload_file


def versions(team, user):
    """v1 uploaded; v2 derived from it and frozen; v3 derived from v2 and frozen."""
    v1 = dataset_upload(
        team=team,
        user=user,
        name="<script>x</script>",
        uploaded_file=upload_file([chat(i) for i in range(14)]),
    )
    v2 = version_derive(
        parent=v1, examples=[chat(i) for i in range(13)], user=user, note="approved only", freeze=True
    )
    v3 = version_derive(
        parent=v2, examples=[chat(i) for i in range(12)], user=user, note="fixes", freeze=True
    )
    return v1, v2, v3


def test_the_version_page_loads_the_jobs_panel_over_htmx(alice, team, alice_client):
    _, v2, _ = versions(team, alice)
    page = alice_client.get(f"/datasets/{v2.dataset_id}/v/{v2.number}/").content.decode()
    assert f'hx-get="/jobs/for-version/{v2.id}/"' in page and 'hx-trigger="load"' in page


def test_the_panel_lists_the_jobs_trained_on_exactly_this_version(alice, team, alice_client):
    _, v2, v3 = versions(team, alice)
    connection = make_connection(team)
    on_v2 = [make_job(team, v2, connection, fine_tuned_model=f"ft:v2-{i}") for i in range(2)]
    on_v3 = make_job(team, v3, connection, fine_tuned_model="ft:v3")
    panel = alice_client.get(f"/jobs/for-version/{v2.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in panel and 'data-testid="version-jobs"' in panel
    linked = set(re.findall(r'href="/jobs/(\d+)/"', panel))
    assert linked == {str(j.id) for j in on_v2} and str(on_v3.id) not in linked
    assert "ft:v2-0" in panel and "ft:v3" not in panel
    none = alice_client.get(f"/jobs/for-version/{v2.parent_id}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="version-jobs-none"' in none
    full = alice_client.get(f"/jobs/for-version/{v3.id}/").content.decode()
    assert "<html" in full and "ft:v3" in full and "&lt;script&gt;x&lt;/script&gt;" in full
    assert "<script>x</script>" not in full


def test_an_outsider_gets_404_for_the_panel(alice, team, charlie_client):
    _, v2, _ = versions(team, alice)
    assert charlie_client.get(f"/jobs/for-version/{v2.id}/").status_code == 404
    assert charlie_client.get(f"/jobs/for-version/{v2.id}/", HTTP_HX_REQUEST="true").status_code == 404


def test_the_job_page_links_the_exact_frozen_version_and_its_parents(alice, team, alice_client):
    v1, v2, v3 = versions(team, alice)
    job = make_job(team, v3, make_connection(team))
    page = alice_client.get(f"/jobs/{job.id}/").content.decode()
    link = re.search(r'<a href="([^"]+)" data-testid="job-version">', page)
    assert link is not None and link.group(1) == f"/datasets/{v3.dataset_id}/v/{v3.number}/"
    assert v3.blob.sha256[:12] in page
    lineage = re.search(r'data-testid="job-version-lineage">(.*?)</span>', page, re.S)
    assert lineage is not None
    assert re.findall(r"/v/(\d+)/", lineage.group(1)) == [str(v2.number), str(v1.number)]
    assert f"/datasets/{v3.dataset_id}/v/{v3.number}/#panels" in page


def test_a_version_page_shows_its_own_lineage(alice, team, alice_client):
    v1, v2, v3 = versions(team, alice)
    page = alice_client.get(f"/datasets/{v3.dataset_id}/v/{v3.number}/").content.decode()
    lineage = re.search(r'data-testid="lineage">(.*?)</p>', page, re.S)
    assert lineage is not None
    assert re.findall(r'/v/(\d+)/"', lineage.group(1)) == [str(v2.number), str(v1.number)]
    assert "<q>fixes</q>" in lineage.group(1) and f"?a={v2.number}&amp;b={v3.number}" in lineage.group(1)
    assert v3.is_frozen and v2.is_frozen and not v1.is_frozen
