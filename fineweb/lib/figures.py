"""Plotly figures as plain dicts, without plotly's graph objects.

`plotly.graph_objects` validates every property through a tree of validator objects: building the
job page's two-panel loss figure that way took about half of the page's server time (cProfile, 300
points). plotly.js needs only the JSON, so the selectors write the figure as dicts and lists (numpy
arrays go as plotly.js typed arrays through `typed`) with the same
layout plotly.py would produce, its default template included (read once, at import).
`tests/lib/test_figures.py` checks the dicts against what graph objects build.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import plotly.io as pio

TEMPLATE: dict[str, Any] = pio.templates[pio.templates.default].to_plotly_json()


def typed(values: np.ndarray) -> dict:
    """Numbers as plotly.js's typed array (float64, base64), what graph objects send for a numpy
    array: a quarter of the bytes of the same numbers written out, and no parsing in the browser."""
    return {
        "dtype": "f8",
        "bdata": base64.b64encode(np.ascontiguousarray(values, dtype="<f8").tobytes()).decode(),
    }


def figure(data: list[dict], layout: dict) -> dict:
    """A figure dict: `data` traces, `layout` with plotly.py's default template."""
    return {"data": data, "layout": {"template": TEMPLATE, **layout}}


def two_rows(titles: tuple[str, str], *, vertical_spacing: float = 0.12) -> dict:
    """The layout of `make_subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=...)`:
    traces of the top row use axes x/y, those of the bottom row x2/y2."""
    low_top = (1 - vertical_spacing) / 2
    high_bottom = 1 - low_top
    return {
        "xaxis": {"anchor": "y", "domain": [0.0, 1.0], "matches": "x2", "showticklabels": False},
        "yaxis": {"anchor": "x", "domain": [round(high_bottom, 10), 1.0]},
        "xaxis2": {"anchor": "y2", "domain": [0.0, 1.0]},
        "yaxis2": {"anchor": "x2", "domain": [0.0, round(low_top, 10)]},
        "annotations": [
            _title(titles[0], 1.0),
            _title(titles[1], round(low_top, 10)),
        ],
    }


def _title(text: str, y: float) -> dict:
    return {
        "font": {"size": 16},
        "showarrow": False,
        "text": text,
        "x": 0.5,
        "xanchor": "center",
        "xref": "paper",
        "y": y,
        "yanchor": "bottom",
        "yref": "paper",
    }


def vertical_line(x: float, *, color: str, dash: str, text: str) -> tuple[dict, dict]:
    """The shape and annotation of plotly.py's `fig.add_vline(x, line_dash, line_color,
    annotation_text)`."""
    shape = {
        "line": {"color": color, "dash": dash},
        "type": "line",
        "x0": x,
        "x1": x,
        "xref": "x",
        "y0": 0,
        "y1": 1,
        "yref": "y domain",
    }
    note = {
        "showarrow": False,
        "text": text,
        "x": x,
        "xanchor": "left",
        "xref": "x",
        "y": 1,
        "yanchor": "top",
        "yref": "y domain",
    }
    return shape, note
