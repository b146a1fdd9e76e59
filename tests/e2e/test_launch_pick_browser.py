"""In Chromium: a base model picked on the launch form while the connection's model list is still
on its way is kept when the list arrives. Under load (the embedded default on a busy machine) the
list landed after the pick and put its default back, and the job trained another model than the
one on the screen a moment before (found by tests/e2e/test_embedded_flows_browser.py)."""

from __future__ import annotations

import pytest

from jobs.models import Job
from tests.e2e.browser import login
from tests.factories import PASSWORD, make_version

pytestmark = pytest.mark.e2e


def test_a_model_picked_while_the_models_load_is_the_one_launched(browser_page, live_server, team):
    version = make_version(team)
    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/jobs/new/?version={version.id}")
    page.select_option("select[name=connection]", label="Built-in local provider")
    page.wait_for_selector("select[name=base_model] option[value=fineweb-tiny]", state="attached")
    page.wait_for_load_state("networkidle")
    default = page.input_value("select[name=base_model]")
    assert default != "fineweb-tiny"  # else picking it would prove nothing

    # The model list's answer is held back (a slow server) while the user picks a model.
    held: list = []
    page.route("**/jobs/new/models/**", lambda route: held.append(route))
    page.select_option("select[name=connection]", label="Built-in local provider")
    while not held:
        page.wait_for_timeout(50)
    page.select_option("select[name=base_model]", "fineweb-tiny")
    page.evaluate("() => { document.querySelector('select[name=base_model]').dataset.before = '1'; }")
    held[0].continue_()
    page.wait_for_function(
        "() => { const s = document.querySelector('select[name=base_model]'); return s && !s.dataset.before; }"
    )
    page.wait_for_load_state("networkidle")
    assert page.input_value("select[name=base_model]") == "fineweb-tiny"

    page.click("#launch-form button[type=submit]")
    page.wait_for_url("**/jobs/*/")
    assert Job.objects.get().base_model == "fineweb-tiny"
