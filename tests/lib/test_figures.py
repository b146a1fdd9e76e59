"""The plain-dict figures match what plotly's graph objects build, property for property."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io
from plotly.subplots import make_subplots

from fineweb.lib import figures


def _plain(fig: dict) -> dict:
    return json.loads(plotly.io.json.to_json_plotly(fig))


def test_two_rows_is_the_layout_of_make_subplots_with_shared_x_axes():
    titles = ("Loss (lower is better)", "Token accuracy (higher is better)")
    reference = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12, subplot_titles=titles)
    x = np.arange(1.0, 6.0)
    reference.add_trace(go.Scatter(x=x, y=x * 2, name="top"), row=1, col=1)
    reference.add_trace(go.Scattergl(x=x, y=x / 2, name="bottom"), row=2, col=1)
    reference.update_xaxes(title_text="step", row=2, col=1, gridcolor="#eef1f5")
    reference.update_yaxes(gridcolor="#eef1f5")

    layout = figures.two_rows(titles, vertical_spacing=0.12)
    layout["xaxis2"].update(title={"text": "step"}, gridcolor="#eef1f5")
    layout["yaxis"]["gridcolor"] = layout["yaxis2"]["gridcolor"] = "#eef1f5"
    ours = figures.figure(
        [
            {
                "name": "top",
                "x": figures.typed(x),
                "y": figures.typed(x * 2),
                "type": "scatter",
                "xaxis": "x",
                "yaxis": "y",
            },
            {
                "name": "bottom",
                "x": figures.typed(x),
                "y": figures.typed(x / 2),
                "type": "scattergl",
                "xaxis": "x2",
                "yaxis": "y2",
            },
        ],
        layout,
    )
    assert _plain(ours) == _plain(reference.to_plotly_json())


def test_vertical_line_is_add_vline_with_its_annotation():
    reference = go.Figure(go.Bar(x=[1, 2], y=[3, 4]))
    reference.add_vline(x=5, line_dash="dash", line_color="#c0392b", annotation_text="limit 5")
    shape, note = figures.vertical_line(5, color="#c0392b", dash="dash", text="limit 5")
    ours = figures.figure(
        [{"x": [1, 2], "y": [3, 4], "type": "bar"}], {"shapes": [shape], "annotations": [note]}
    )
    assert _plain(ours) == _plain(reference.to_plotly_json())
