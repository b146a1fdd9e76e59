"""In Chromium: the loss curve's controls (issue 13, point 5). Smoothing is an exponential moving
average with the raw curve faint behind it, computed in static/js/figures.js from the data the
page sent; the test computes the same average here and compares. The x-axis switches between
step, epoch and tokens seen, so two runs of different batch sizes line up; the loss panel has a
log scale; validation loss is dashed."""

from __future__ import annotations

import math
import random

import pytest

from jobs.models import Job, MetricPoint
from providers.models import Connection
from tests.e2e.browser import login, screenshot
from tests.factories import PASSWORD, make_job, make_version

pytestmark = pytest.mark.e2e

TRACES = """() => document.getElementById('curve').data.map(t => ({
    name: t.name, x: Array.from(t.x), y: Array.from(t.y), opacity: t.opacity,
    dash: t.line && t.line.dash, raw: !!(t.meta && t.meta.raw)}))"""


def ema(values: list[float], weight: float) -> list[float]:
    out, last = [], 0.0
    for i, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**i) if weight else value)
    return out


def noisy_job(
    team, version, connection, *, steps: int, epochs: int, tokens: int, seed: int
) -> tuple[Job, list[float]]:
    rng = random.Random(seed)
    job = make_job(
        team,
        version,
        connection,
        base_model="fineweb-tiny",
        status=Job.Status.SUCCEEDED,
        hyperparameters={"n_epochs": epochs, "batch_size": "auto", "learning_rate_multiplier": "auto"},
        total_steps=steps,
        trained_tokens=tokens,
    )
    losses = [2.5 * math.exp(-s / (steps / 3)) + 0.3 + rng.uniform(-0.4, 0.4) for s in range(1, steps + 1)]
    MetricPoint.objects.bulk_create(
        MetricPoint(job=job, step=s, train_loss=loss, valid_loss=loss + 0.2 if s % 10 == 0 else None)
        for s, loss in zip(range(1, steps + 1), losses, strict=True)
    )
    return job, losses


def set_smoothing(page, value: str) -> None:
    page.eval_on_selector(
        "[name=smoothing]",
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }",
        value,
    )


def by_name(traces: list[dict], name: str, *, raw: bool = False) -> dict:
    wanted = f"{name} (raw)" if raw else name
    return next(t for t in traces if t["name"].endswith(wanted) and t["raw"] == raw)


def test_smoothing_axes_and_log_scale_on_the_job_page(browser_page, live_server, team):
    version = make_version(team)
    local = Connection.objects.get(team=team, kind="local")
    job, losses = noisy_job(team, version, local, steps=60, epochs=3, tokens=6000, seed=1)
    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/jobs/{job.id}/")
    page.wait_for_function("() => (document.getElementById('curve').data || []).length >= 4")

    traces = page.evaluate(TRACES)
    raw = by_name(traces, "train loss", raw=True)
    smooth = by_name(traces, "train loss")
    assert raw["y"] == pytest.approx(losses) and raw["opacity"] == 0.25
    assert smooth["y"] == pytest.approx(ema(losses, 0.6))
    assert by_name(traces, "validation loss")["dash"] == "dash"
    assert by_name(traces, "train loss")["x"] == list(range(1, 61))
    screenshot(page, "loss-curve-controls.png")

    set_smoothing(page, "0.9")
    page.wait_for_function("() => document.querySelector('[data-smoothing-value]').textContent === '0.90'")
    assert by_name(page.evaluate(TRACES), "train loss")["y"] == pytest.approx(ema(losses, 0.9))

    set_smoothing(page, "0")
    page.wait_for_function("() => !document.getElementById('curve').data.some(t => t.meta && t.meta.raw)")
    traces = page.evaluate(TRACES)
    assert by_name(traces, "train loss")["y"] == pytest.approx(losses)
    assert page.inner_text("[data-smoothing-value]") == "off"

    page.select_option("[name=xaxis]", "epoch")  # 60 steps over 3 epochs: 20 steps an epoch
    page.wait_for_function("() => document.getElementById('curve').layout.xaxis2.title.text === 'epoch'")
    assert by_name(page.evaluate(TRACES), "train loss")["x"] == pytest.approx([s / 20 for s in range(1, 61)])
    page.select_option("[name=xaxis]", "tokens")  # 6,000 tokens over 60 steps
    page.wait_for_function(
        "() => document.getElementById('curve').layout.xaxis2.title.text === 'tokens seen'"
    )
    assert by_name(page.evaluate(TRACES), "train loss")["x"] == pytest.approx([s * 100 for s in range(1, 61)])

    page.check("[name=log]")
    page.wait_for_function("() => document.getElementById('curve').layout.yaxis.type === 'log'")
    page.uncheck("[name=log]")
    page.wait_for_function("() => document.getElementById('curve').layout.yaxis.type === 'linear'")


def test_runs_of_different_batch_sizes_line_up_by_epoch_on_the_curves_page(browser_page, live_server, team):
    version = make_version(team)
    local = Connection.objects.get(team=team, kind="local")
    small, _ = noisy_job(team, version, local, steps=90, epochs=3, tokens=9000, seed=2)  # batch size 1
    large, _ = noisy_job(team, version, local, steps=30, epochs=3, tokens=9000, seed=3)  # batch size 3
    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/jobs/curves/?ids={small.id},{large.id}")
    page.wait_for_function("() => (document.getElementById('curve').data || []).length >= 4")
    ends = {
        t["name"]: max(t["x"]) for t in page.evaluate(TRACES) if "train loss" in t["name"] and not t["raw"]
    }
    assert ends == {f"#{small.id} train loss": 90, f"#{large.id} train loss": 30}
    page.select_option("[name=xaxis]", "epoch")
    page.wait_for_function("() => document.getElementById('curve').layout.xaxis2.title.text === 'epoch'")
    ends = {
        t["name"]: max(t["x"]) for t in page.evaluate(TRACES) if "train loss" in t["name"] and not t["raw"]
    }
    assert ends == {f"#{small.id} train loss": pytest.approx(3), f"#{large.id} train loss": pytest.approx(3)}
    screenshot(page, "loss-curves-by-epoch.png")


def test_an_axis_a_run_cannot_be_put_on_is_not_offered(browser_page, live_server, team):
    version = make_version(team)
    local = Connection.objects.get(team=team, kind="local")
    job = make_job(team, version, local, status=Job.Status.SUCCEEDED, estimated_tokens=None, total_steps=None)
    MetricPoint.objects.bulk_create(MetricPoint(job=job, step=s, train_loss=1.0 / s) for s in range(1, 11))
    page = browser_page
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/jobs/{job.id}/")
    page.wait_for_function("() => (document.getElementById('curve').data || []).length >= 1")
    assert page.eval_on_selector("[name=xaxis] option[value=epoch]", "el => el.disabled")
    assert page.eval_on_selector("[name=xaxis] option[value=tokens]", "el => el.disabled")
    assert not page.eval_on_selector("[name=xaxis] option[value=step]", "el => el.disabled")
