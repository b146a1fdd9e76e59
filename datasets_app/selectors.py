"""Reads that build what the dataset pages show: the histogram figure, the cost, examples, problems."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import orjson

from datasets_app import diffing
from datasets_app.costs import Estimate, estimate
from datasets_app.lines import example_lines
from datasets_app.models import DatasetVersion
from datasets_app.validation import format_problem
from fineweb.lib import figures
from fineweb.lib.catalogue import model_spec

log = logging.getLogger(__name__)

PROBLEMS_SHOWN = 200
EXAMPLES_PER_PAGE = 5


def version_histogram_figure(version: DatasetVersion) -> dict | None:
    """A plotly figure (as a JSON-ready dict) of tokens per example, with the model's limit."""
    stats = version.stats
    histogram = stats.get("histogram")
    if not histogram:
        return None
    edges = histogram["edges"]
    centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    widths = [max(b - a, 1) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    labels = [f"{round(a):,}\u2013{round(b):,} tokens" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    layout: dict = {}
    limit = stats.get("limit")
    if limit and stats.get("tokens_max", 0) >= limit * 0.8:
        shape, note = figures.vertical_line(limit, color="#c0392b", dash="dash", text=f"limit {limit:,}")
        layout.update(shapes=[shape], annotations=[note])
    layout.update(
        margin={"l": 50, "r": 20, "t": 10, "b": 45},
        height=280,
        bargap=0.05,
        xaxis={"title": {"text": "tokens per example"}},
        yaxis={"title": {"text": "examples"}},
        plot_bgcolor="#fff",
        paper_bgcolor="#fff",
    )
    bar = {
        "customdata": labels,
        "hovertemplate": "%{customdata}<br>%{y} examples<extra></extra>",
        "marker": {"color": "#2f6fde"},
        "width": widths,
        "x": centers,
        "y": histogram["counts"],
        "type": "bar",
    }
    return figures.figure([bar], layout)


def version_cost(version: DatasetVersion, n_epochs: int | None = None) -> Estimate:
    return estimate(
        n_examples=version.n_examples,
        tokens_per_example_capped_total=version.tokens_capped_total,
        model=version.dataset.target_model,
        n_epochs=n_epochs,
    )


@dataclass
class ProblemList:
    shown: list[str]
    total: int
    summary: list[dict]

    @property
    def more(self) -> int:
        return self.total - len(self.shown)


def version_problems(version: DatasetVersion, kind: str) -> ProblemList:
    """Errors or warnings ("errors" / "warnings") as `line N: message`, capped for the page."""
    report = version.report or {}
    items = report.get(kind, [])[:PROBLEMS_SHOWN]
    return ProblemList(
        shown=[format_problem(p) for p in items],
        total=report.get("error_count" if kind == "errors" else "warning_count", 0),
        summary=report.get("error_summary" if kind == "errors" else "warning_summary", []),
    )


def _as_text(value) -> str:
    """Any JSON value as text to show: a string as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return orjson.dumps(value).decode()


def _bubbles(example) -> list[dict] | None:
    """Chat bubbles (role, text) of one parsed example, for either format; None when the example
    is not shaped like a chat at all (the page then shows the line as raw text)."""
    if not isinstance(example, dict):
        return None
    if "input" in example:
        inp = example["input"]
        messages = inp.get("messages") if isinstance(inp, dict) else None
        if not isinstance(messages, list):
            return None
        bubbles = [_bubble(m) for m in messages]
        for key, label in (("preferred_output", "preferred"), ("non_preferred_output", "not preferred")):
            output = example.get(key)
            for m in output if isinstance(output, list) else ([] if output is None else [output]):
                bubbles.append({**_bubble(m), "label": label})
        return bubbles
    messages = example.get("messages")
    if not isinstance(messages, list):
        return None
    return [_bubble(m) for m in messages]


def _part_text(part) -> str:
    if not isinstance(part, dict):
        return _as_text(part)
    for key in ("text", "refusal"):
        if isinstance(part.get(key), str):
            return part[key]
    return f"[{_as_text(part.get('type'))[:40]}]"


def _call_text(call) -> str:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        return _as_text(call)
    return f"{_as_text(function.get('name'))}({_as_text(function.get('arguments'))})"


def _bubble(message) -> dict:
    if not isinstance(message, dict):
        return {"role": "?", "text": _as_text(message)[:2000], "weight0": False}
    content = message.get("content")
    if isinstance(content, list):
        text = "\n".join(_part_text(p) for p in content)
    elif content is None and isinstance(message.get("tool_calls"), list):
        text = "calls " + ", ".join(_call_text(c) for c in message["tool_calls"])
    else:
        text = _as_text(content)
    role = message.get("role")
    return {
        "role": role if isinstance(role, str) else "?",
        "text": text[:4000],
        "weight0": message.get("weight") == 0,
    }


def _raw(raw: bytes) -> str:
    return raw[:2000].decode("utf-8", "replace")


def version_examples(version: DatasetVersion, page: int = 1, per_page: int = EXAMPLES_PER_PAGE) -> dict:
    """Examples of page `page` (1-based), read from the file; a bad line is shown as raw text."""
    page = max(1, page)
    first = (page - 1) * per_page
    examples = []
    index = -1
    has_next = False
    with version.blob.open() as f:
        for number, raw in example_lines(f):
            index += 1
            if index < first:
                continue
            if index >= first + per_page:
                has_next = True
                break
            if raw is None:
                examples.append({"line": number, "bubbles": [], "raw": "(a line too long to show)"})
                continue
            examples.append(_example(number, raw))
    return {"examples": examples, "page": page, "has_next": has_next, "has_previous": page > 1}


def _example(number: int, raw: bytes) -> dict:
    """One line for the page: chat bubbles when it parses as a chat, else its raw text (escaped by
    the template). orjson refuses what cannot be shown safely (nesting past 1,024 levels, a lone
    surrogate that no page could encode), and a shape no rule foresaw still shows as raw text."""
    try:
        bubbles = _bubbles(orjson.loads(raw))
    except orjson.JSONDecodeError:
        bubbles = None
    except Exception:
        log.exception("examples page: line %s could not be shown as a chat", number)
        bubbles = None
    if not bubbles:
        return {"line": number, "bubbles": [], "raw": _raw(raw)}
    return {"line": number, "bubbles": bubbles, "raw": None}


def version_limits(version: DatasetVersion) -> dict:
    spec = model_spec(version.dataset.target_model)
    return {"model": spec.name, "limit": spec.max_tokens_per_example, "encoding": spec.encoding}


# --- what the version page caches rendered ---------------------------------------------------
class VersionReport:
    """What the version page shows from a checked version's report: the statistics, the histogram,
    the cost, errors and warnings; computed only when their rendering is not cached.

    The report is written once, when the check ends (services.dataset_validate updates only a row
    still "validating"), and the file behind it is addressed by its sha256: `key` names the version,
    its file, its status and the model its limits and price come from, and the template caches the
    rendered statistics under it (`{% cache %}`, CACHES in settings)."""

    def __init__(self, version: DatasetVersion) -> None:
        self.version = version
        self.key = (
            f"{version.id}:{version.created.timestamp() if version.created else ''}:"
            f"{version.blob.sha256}:{version.status}:{version.dataset.target_model}"
        )

    @cached_property
    def figure(self) -> dict | None:
        return version_histogram_figure(self.version)

    @cached_property
    def cost(self) -> Estimate:
        return version_cost(self.version)

    @cached_property
    def errors(self) -> ProblemList:
        return version_problems(self.version, "errors")

    @cached_property
    def warnings(self) -> ProblemList:
        return version_problems(self.version, "warnings")

    @cached_property
    def limits(self) -> dict:
        return version_limits(self.version)


class ExamplesPage:
    """One page of a version's examples, read from the file only when its rendering is not cached:
    the file never changes (sha256), so `key` is the version, the file and the page number."""

    def __init__(self, version: DatasetVersion, page: int = 1) -> None:
        self.version = version
        self.number = max(1, page)
        self.key = f"{version.id}:{version.blob.sha256}:{self.number}:{EXAMPLES_PER_PAGE}"

    @cached_property
    def _page(self) -> dict:
        return version_examples(self.version, self.number)

    def __getitem__(self, name: str) -> object:  # the template reads page.examples, page.has_next ...
        return self._page[name]


# --- the diff page ------------------------------------------------------------------------------
DIFF_PER_PAGE = 20
DIFF_SHOWS = ("all", "changed", "added", "removed")


def _example_bubbles(raw: bytes | None) -> list[dict]:
    if raw is None:
        return [{"role": "line", "text": "(a line too long to show)", "label": ""}]
    try:
        bubbles = _bubbles(orjson.loads(raw))
    except Exception:  # noqa: BLE001 - any line still shows, as its text
        bubbles = None
    if not bubbles:
        return [{"role": "line", "text": _raw(raw), "label": ""}]
    return bubbles


def _message_rows(a: list[dict], b: list[dict]) -> list[dict]:
    """Messages of a changed example side by side, by position, the changed ones marked word by word."""
    rows = []
    for k in range(max(len(a), len(b))):
        ma = a[k] if k < len(a) else None
        mb = b[k] if k < len(b) else None
        if ma is None and mb is not None:
            rows.append(
                {"state": "added", "role": mb["role"], "label": mb.get("label", ""), "text": mb["text"]}
            )
        elif mb is None and ma is not None:
            rows.append(
                {"state": "removed", "role": ma["role"], "label": ma.get("label", ""), "text": ma["text"]}
            )
        elif ma is not None and mb is not None:
            same = (ma["role"], ma["text"], ma.get("label", "")) == (
                mb["role"],
                mb["text"],
                mb.get("label", ""),
            )
            rows.append(
                {
                    "state": "same" if same else "changed",
                    "role": mb["role"],
                    "old_role": ma["role"] if ma["role"] != mb["role"] else "",
                    "label": mb.get("label", ""),
                    "text": mb["text"],
                    "runs": [] if same else diffing.word_diff(ma["text"], mb["text"]),
                }
            )
    return rows


def version_diff_page(a: DatasetVersion, b: DatasetVersion, *, page: int = 1, show: str = "all") -> dict:
    """One page of the diff of version a to version b: counts, and the examples of this page only
    (read from the two files at their offsets), each changed one with its messages marked."""
    diff = diffing.diff_versions(a, b)
    show = show if show in DIFF_SHOWS else "all"
    positions = diff.positions(None if show == "all" else show)
    n_pages = max(1, -(-len(positions) // DIFF_PER_PAGE))
    page = min(max(1, page), n_pages)
    shown = positions[(page - 1) * DIFF_PER_PAGE : page * DIFF_PER_PAGE]
    rows = []
    with diffing.LineReader(a.blob) as ra, diffing.LineReader(b.blob) as rb:
        for position in shown:
            kind, i, j = diff.entry(int(position))
            old = _example_bubbles(ra.read(i)) if i >= 0 else []
            new = _example_bubbles(rb.read(j)) if j >= 0 else []
            if kind == diffing.CHANGED:
                messages = _message_rows(old, new)
            else:
                state = "added" if kind == diffing.ADDED else "removed"
                messages = [
                    {"state": state, "role": m["role"], "label": m.get("label", ""), "text": m["text"]}
                    for m in (new or old)
                ]
            rows.append(
                {
                    "kind": kind,
                    "a_number": i + 1 if i >= 0 else None,
                    "b_number": j + 1 if j >= 0 else None,
                    "messages": messages,
                }
            )
    return {
        "diff": diff,
        "rows": rows,
        "page": page,
        "n_pages": n_pages,
        "show": show,
        "shows": DIFF_SHOWS,
        "has_previous": page > 1,
        "has_next": page < n_pages,
        "n_shown": len(positions),
    }


# --- export formats -----------------------------------------------------------------------------
def version_export_options(version: DatasetVersion) -> dict:
    """The export formats of a frozen version's method: each with its check's result (a link when
    every example passed, else the reason), or `pending` while a worker checks a large file."""
    from datasets_app import exports

    results = version.exports or {}
    options = []
    for fmt in exports.formats_for(version.dataset.method):
        result = results.get(fmt.key) or {}
        options.append(
            {
                "key": fmt.key,
                "label": fmt.label,
                "help": fmt.help,
                "checked": bool(result),
                "ok": bool(result.get("ok")),
                "reason": result.get("reason", ""),
            }
        )
    pending = any(not o["checked"] for o in options)
    return {"options": options, "pending": pending}
