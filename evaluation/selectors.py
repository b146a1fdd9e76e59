"""Reads of evaluation runs for the pages: the results table, the scorecard figure, exports."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from compare import selectors as compare_selectors
from evaluation import rendering
from evaluation import scorers as scoring
from evaluation.models import Example, Result, Run, RunModel
from fineweb.lib import diffing
from fineweb.lib.figures import figure

PAGE_SIZE = 50


def latest_compare_vote_id(run: Run) -> int:
    """The team's newest compare-screen vote: the run's agreement figures are as of one vote."""
    return compare_selectors.latest_blind_vote_id(run.team)


def runs_for_team(team) -> QuerySet[Run]:
    return Run.objects.filter(team=team).select_related("job", "dataset_version__dataset")


def scorer_columns(run: Run) -> list[dict[str, Any]]:
    cols = [
        {
            "key": scoring.key_of(c),
            "title": scoring.SCORERS[c["kind"]].title,
            "explanation": scoring.explain(c),
            "pass_fail": scoring.SCORERS[c["kind"]].pass_fail,
        }
        for c in run.scorers
    ]
    return cols


def results_page(
    *, run: Run, params: Mapping[str, str], models: list[RunModel] | None = None
) -> dict[str, Any]:
    """One page of the per-example table (three queries whatever the run's size) and its filter."""
    models = models if models is not None else list(run.run_models.all())
    regressions = params.get("filter") == "regressions"
    examples = Example.objects.filter(run=run).only("id", "index", "prompt", "reference", "drop")
    examples = (
        examples.filter(drop__gt=0).order_by("-drop", "index") if regressions else examples.order_by("index")
    )
    paginator = Paginator(examples, PAGE_SIZE)
    paginator.count  # noqa: B018 - one COUNT, on the (run, -drop, index) index
    page: Page = paginator.get_page(params.get("page"))
    ids = [e.id for e in page.object_list]
    by_pair: dict[tuple[int, int], Result] = {
        (r.example_id, r.model_id): r for r in Result.objects.filter(example_id__in=ids)
    }
    columns = scorer_columns(run)
    rows = []
    for example in page.object_list:
        cells = []
        results: list[Result | None] = []
        for model in models:
            result = by_pair.get((example.id, model.id))
            results.append(result)
            cells.append(
                {
                    "model": model,
                    "result": result,
                    "scores": _score_badges(result, columns),
                    "meta": _meta(result),
                }
            )
        diff = None
        first, last = results[0], results[-1]
        if (
            first is not None
            and last is not None
            and not first.error
            and not last.error
            and first.reply != last.reply
        ):
            diff = diffing.word_diff(first.reply, last.reply)
        rows.append(
            {"example": example, "html": rendering.cells_html(cells, diff), "drop": f"{example.drop:.2f}"}
        )
    return {
        "page": page,
        "rows": rows,
        "models": models,
        "columns": columns,
        "regressions": regressions,
        "total": paginator.count,
    }


def _score_badges(result: Result | None, columns: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Each scorer's value of one reply as the table shows it (text, CSS class, explanation)."""
    if result is None or result.error:
        return []
    badges = []
    for c in columns:
        v = result.scores.get(c["key"])
        if v is True:
            text, css = "pass", "pass"
        elif v is False:
            text, css = "fail", "fail"
        elif v is None:
            text, css = "–", ""
        else:
            text, css = f"{v:g}" if isinstance(v, float) else str(v), ""
        badges.append({"title": c["title"], "text": text, "css": css, "explanation": c["explanation"]})
    return badges


def _meta(result: Result | None) -> str:
    if result is None or result.error:
        return ""
    parts = [f"{result.latency_s:.2f} s" if result.latency_s is not None else ""]
    if result.cost_usd is not None:
        parts.append(f"${result.cost_usd:.5f}")
    return " · ".join(p for p in parts if p)


def scorecard_figure(run: Run) -> dict | None:
    """The last model against the baseline on each scorer: the difference with its 95% interval."""
    comparisons = [
        c
        for c in run.summary.get("comparisons", [])
        if c["n"] and c["difference"] is not None and c["key"] != "prompt_tokens"
    ]
    if not comparisons:
        return None
    last = max(c["model"] for c in comparisons)
    rows = [c for c in comparisons if c["model"] == last]
    scale = [100.0 if c["pass_fail"] else 1.0 for c in rows]
    x = [c["difference"] * s for c, s in zip(rows, scale, strict=True)]
    plus = [(c["ci_high"] - c["difference"]) * s for c, s in zip(rows, scale, strict=True)]
    minus = [(c["difference"] - c["ci_low"]) * s for c, s in zip(rows, scale, strict=True)]
    labels = [c["title"] + (" (points of %)" if c["pass_fail"] else "") for c in rows]
    # Green: better and real; red: worse and real; grey: could be chance, or no better/worse side.
    colors = [
        "#757575"
        if not c["significant"] or c.get("better") != "higher"
        else "#2e7d32"
        if c["difference"] > 0
        else "#c62828"
        for c in rows
    ]
    return figure(
        [
            {
                "type": "scatter",
                "mode": "markers",
                "x": x,
                "y": labels,
                "marker": {"size": 10, "color": colors},
                "error_x": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
                "hovertemplate": "%{y}: %{x:+.2f}<extra></extra>",
            }
        ],
        {
            "height": 80 + 40 * len(rows),
            "margin": {"l": 200, "r": 20, "t": 30, "b": 40},
            "xaxis": {
                "title": {"text": f"{rows[0]['b_label']} minus {rows[0]['a_label']}"},
                "zeroline": True,
            },
            "showlegend": False,
        },
    )


def latest_run_for_job(*, team, job_id: int) -> Run | None:
    return (
        Run.objects.filter(team=team, job_id=job_id, status=Run.Status.SUCCEEDED).order_by("-created").first()
    )


def export_rows(run: Run) -> Iterator[dict[str, Any]]:
    """One dict per example (all models' replies and scores), in example order, read in batches."""
    models: list[RunModel] = list(run.run_models.all())
    columns = scorer_columns(run)
    examples = (
        Example.objects.filter(run=run).order_by("index").only("id", "index", "prompt", "reference", "drop")
    )
    batch: list[Example] = []

    def flush(batch: list[Example]) -> Iterator[dict[str, Any]]:
        results = {
            (r.example_id, r.model_id): r for r in Result.objects.filter(example_id__in=[e.id for e in batch])
        }
        for e in batch:
            row: dict[str, Any] = {
                "index": e.index,
                "prompt": e.prompt,
                "reference": e.reference,
                "drop": e.drop,
            }
            for m in models:
                r = results.get((e.id, m.id))
                row[f"{m.label} reply"] = r.reply if r else None
                row[f"{m.label} error"] = r.error if r else None
                row[f"{m.label} latency_s"] = r.latency_s if r else None
                row[f"{m.label} cost_usd"] = str(r.cost_usd) if r and r.cost_usd is not None else None
                for c in columns:
                    row[f"{m.label} {c['key']}"] = r.scores.get(c["key"]) if r else None
            yield row

    for e in examples.iterator(chunk_size=500):
        batch.append(e)
        if len(batch) == 500:
            yield from flush(batch)
            batch = []
    if batch:
        yield from flush(batch)
