"""The results table's reply cells as HTML, built in Python with Django's escaping.

A page of 50 examples x 2 models has a few thousand values; through template tags they took
most of the page's server time (benchmarks/bench_eval.py), so each cell is written here in one
pass: every piece of user or model text goes through `html.escape` (quotes included, as Django's
`escape`), nothing else is inserted.
"""

from __future__ import annotations

from html import escape  # what django.utils.html.escape does, without its lazy-string wrapper
from typing import Any

from django.utils.safestring import SafeString, mark_safe


def reply_cell(
    result, badges: list[dict[str, str]], meta: str, diff: list[tuple[str, str]] | None
) -> SafeString:
    if result is None:
        return mark_safe('<span class="help">not yet</span>')
    if result.error:
        return mark_safe(f'<span class="error">{escape(result.error)}</span>')
    if diff is not None:
        body = "".join(
            escape(text) if op == "equal" else f"<ins>{escape(text)}</ins>" if op == "insert" else ""
            for op, text in diff
        )
        reply = f'<div class="diff">{body}</div>'
    else:
        reply = f"<div>{escape(result.reply)}</div>"
    scores = "".join(
        f'<span class="score {b["css"]}" title="{escape(b["explanation"])}">{escape(b["title"])}: {escape(b["text"])}</span>'
        for b in badges
    )
    return mark_safe(f'{reply}<div class="scores">{scores}</div><div class="help">{escape(meta)}</div>')  # noqa: S308 - every piece escaped above


def cells_html(cells: list[dict[str, Any]], diff: list[tuple[str, str]] | None) -> list[SafeString]:
    """Each model's cell of one row; the last model's reply shows its words the baseline lacks."""
    last = len(cells) - 1
    return [
        reply_cell(c["result"], c["scores"], c["meta"], diff if i == last else None)
        for i, c in enumerate(cells)
    ]
