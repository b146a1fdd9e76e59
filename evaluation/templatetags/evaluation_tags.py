from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def index(items, i: int):
    return items[i]


@register.filter
def value(x, pass_fail: bool) -> str:
    """A mean as the page shows it: a share of passes in percent, or a number."""
    if x is None or x != x:
        return "–"
    return f"{x * 100:.0f}%" if pass_fail else f"{x:.2f}"


@register.filter
def signed(x, pass_fail: bool) -> str:
    if x is None or x != x:
        return "–"
    return f"{x * 100:+.0f} pts" if pass_fail else f"{x:+.2f}"


@register.filter
def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
