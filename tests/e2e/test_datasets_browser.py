"""In Chromium: log in, upload a good file and see statistics and the histogram, upload a bad one
and see its line errors. Saves the screenshots shown in the README (docs/screenshots/)."""

from __future__ import annotations

import json

import pytest

from datasets_app.demo import SAMPLE
from tests.e2e.browser import login, screenshot
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


def bad_file(tmp_path):
    good = SAMPLE.read_text(encoding="utf-8").splitlines()
    lines = list(good[:14])
    lines[2] = json.dumps({"messages": [{"role": "user", "content": "Where is my parcel?"}]})
    lines[5] = json.dumps(
        {"messages": [{"role": "customer", "content": "Hi"}, {"role": "assistant", "content": "Hallo"}]}
    )
    lines[8] = '{"messages": [{"role": "user", "content": "unterminated}'
    lines[10] = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "Mail me at jonas.weber@example.de"},
                {"role": "assistant", "content": "Gern!", "weight": 3},
            ]
        }
    )
    lines.append(good[0])
    path = tmp_path / "support_broken.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def upload(page, live_server, path, name: str) -> None:
    page.goto(f"{live_server.url}/datasets/upload/")
    page.set_input_files("input[type=file]", str(path))
    assert path.name in page.inner_text(".dropzone .chosen")
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")
    page.wait_for_url("**/v/1/")


def test_upload_a_good_file_and_see_statistics_and_the_histogram(browser_page, live_server, alice):
    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    upload(page, live_server, SAMPLE, "Support answers in German")
    assert "Valid" in page.inner_text("h1")
    stats = page.inner_text("#stats")
    assert "30\nexamples" in stats and "estimated training cost" in stats
    page.wait_for_selector("#histogram svg.main-svg")  # plotly drew the figure
    assert page.locator("#histogram .bars path").count() > 0
    assert "No errors" in page.inner_text("#errors")
    assert page.locator(".bubble.assistant").count() == 5
    page.click("text=Next →")
    page.wait_for_selector("text=page 2")
    screenshot(page, "dataset-version.png")
    page.goto(f"{live_server.url}/datasets/")
    assert "Support answers in German" in page.inner_text("table")
    screenshot(page, "datasets-list.png")


def test_upload_a_bad_file_and_see_its_line_errors(browser_page, live_server, alice, tmp_path):
    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    upload(page, live_server, bad_file(tmp_path), "Support (first draft)")
    errors = page.inner_text("#errors")
    assert "line 3: the last message must come from the assistant" in errors
    assert "line 6: message 1 has the role 'customer'" in errors
    assert "line 9: not valid JSON" in errors
    assert "line 11: message 2 (assistant): weight must be 0 or 1, not 3" in errors
    warnings = page.inner_text("#warnings")
    assert "line 11: looks like an e-mail address (jo…@example.de)" in warnings
    assert "line 15: exact duplicate of line 1" in warnings
    screenshot(page, "dataset-errors.png")


def test_a_json_array_is_refused_in_the_form_without_leaving_the_page(
    browser_page, live_server, alice, tmp_path
):
    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    path = tmp_path / "array.jsonl"
    path.write_text(json.dumps([{"messages": []}] * 12))
    page.goto(f"{live_server.url}/datasets/upload/")
    page.set_input_files("input[type=file]", str(path))
    page.click("button[type=submit]")
    page.wait_for_selector("text=one JSON array")
    assert page.url.endswith("/datasets/upload/")


def test_a_file_dropped_on_the_drop_zone_is_chosen(browser_page, live_server, alice):
    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/datasets/upload/")
    content = SAMPLE.read_text(encoding="utf-8")
    data_transfer = page.evaluate_handle(
        """(text) => { const dt = new DataTransfer();
                      dt.items.add(new File([text], 'dropped.jsonl', {type: 'application/jsonl'})); return dt; }""",
        content,
    )
    page.dispatch_event(".dropzone", "drop", {"dataTransfer": data_transfer})
    assert "dropped.jsonl" in page.inner_text(".dropzone .chosen")
    assert page.input_value("input[name=name]") == "dropped"
    page.click("button[type=submit]")
    page.wait_for_url("**/v/1/")
    assert "30\nexamples" in page.inner_text("#stats")


def test_the_form_asks_for_a_file_before_sending_anything(browser_page, live_server, alice):
    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/datasets/upload/")
    requests = []
    page.on("request", lambda request: requests.append(request) if request.method == "POST" else None)
    page.click("button[type=submit]")
    assert "Choose a file first" in page.inner_text(".client-error")
    assert requests == [] and page.url.endswith("/datasets/upload/")


def test_a_slow_upload_shows_its_progress_then_lands_on_the_version_page(
    browser_page, live_server, alice, tmp_path
):
    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines * 60) + "\n", encoding="utf-8")  # about 750 kB
    page.goto(f"{live_server.url}/datasets/upload/")
    page.set_input_files("input[type=file]", str(path))
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256 * 1024},
    )
    page.click("button[type=submit]")
    # htmx:xhr:progress moves the bar while the file goes up.
    page.wait_for_function(
        "() => /Uploading\u2026 [1-9][0-9]?%/.test(document.querySelector('.upload-progress .label').innerText)"
    )
    assert page.is_visible(".upload-progress") and page.is_disabled("button[type=submit]")
    page.wait_for_url("**/v/1/", timeout=60_000)
    assert "1,800\nexamples" in page.inner_text("#stats")
