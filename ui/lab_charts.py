"""Every Plotly figure of the batch-norm lab: a pair's accuracy curves and the lesson's table as a chart.

Plotly is imported by the app's chart modules only (this one and charts.py), so the engine never needs it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import plotly.graph_objects as go
from plotly.subplots import make_subplots

if TYPE_CHECKING:
    from dcgan.bnlab.experiment import NetworkResult  # torch: only the figure's caller has it loaded
    from dcgan.bnlab.table import TableRow

WITHOUT_COLOR, WITH_COLOR = "#d62728", "#1f77b4"  # without batch norm red, with it blue, in every lab figure
PAIR_COLORS = {False: WITHOUT_COLOR, True: WITH_COLOR}


def pair_accuracy_figure(pair: tuple[NetworkResult, NetworkResult], total: int) -> go.Figure:
    """A pair's validation accuracy against iteration, one line per network, a cross where one diverged."""
    fig = go.Figure()
    for result in pair:
        color = PAIR_COLORS[result.batchnorm]
        points = [(i, a) for i, a in result.validation if not math.isnan(a)]
        fig.add_trace(
            go.Scatter(
                x=[i for i, _ in points],
                y=[a for _, a in points],
                name=result.label,
                mode="lines",
                line={"color": color, "width": 2},
            )
        )
        if result.diverged_at is not None:
            fig.add_trace(
                go.Scatter(
                    x=[result.diverged_at],
                    y=[points[-1][1] if points else 0.1],
                    mode="markers+text",
                    marker={"symbol": "x", "size": 14, "color": color},
                    text=["diverged"],
                    textposition="top center",
                    name=f"{result.label}: diverged at {result.diverged_at:,}",
                )
            )
    fig.update_layout(
        xaxis_title="iteration (batches of 60)",
        yaxis_title="validation accuracy",
        height=380,
        xaxis_range=[0, total],
        yaxis_range=[0, 1],
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        legend={"orientation": "h", "y": -0.25},
        uirevision="keep",
    )
    return fig


def pair_curves_figure(
    pairs: list[tuple[NetworkResult, NetworkResult]], total: int, curve: str = "validation"
) -> go.Figure:
    """Validation accuracy ("validation") or training loss ("loss") against iteration, without (red) and with
    (blue) batch norm; with several seeds their mean as a line and their min-max as a band."""
    from dcgan.bnlab.seeds import curve_spread

    fig = go.Figure()
    for side in (0, 1):
        results = [pair[side] for pair in pairs]
        color, label = PAIR_COLORS[results[0].batchnorm], results[0].label
        points = curve_spread(results, curve)
        x = [i for i, _ in points]
        if len(results) > 1:
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[s.high for _, s in points],
                    mode="lines",
                    line={"width": 0},
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[s.low for _, s in points],
                    mode="lines",
                    line={"width": 0},
                    fill="tonexty",
                    fillcolor=_rgba(color, 0.2),
                    hoverinfo="skip",
                    name=f"{label}: min-max of {len(results)} seeds",
                )
            )
        mean = "mean of " + str(len(results)) + " seeds" if len(results) > 1 else ""
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[s.mean for _, s in points],
                mode="lines" if len(points) > 2 else "lines+markers",  # the first validations show at once
                line={"color": color, "width": 2},
                name=f"{label}{', ' + mean if mean else ''}",
            )
        )
        diverged = [r.diverged_at for r in results if r.diverged_at is not None]
        if diverged:
            fig.add_trace(
                go.Scatter(
                    x=diverged,
                    y=[0.05 if curve == "validation" else 0] * len(diverged),
                    mode="markers",
                    marker={"symbol": "x", "size": 12, "color": color},
                    name=f"{label}: diverged ({len(diverged)} of {len(results)})",
                )
            )
    loss = curve == "loss"
    fig.update_layout(
        xaxis_title="iteration (batches of 60)",
        yaxis_title="training loss (the batch's cross-entropy)" if loss else "validation accuracy",
        height=340,
        xaxis_range=[0, total],
        yaxis_range=None if loss else [0, 1],
        yaxis_type="log" if loss else "linear",
        yaxis_dtick=1 if loss else None,  # a log axis: ticks at 0.1, 1, 10, not at every digit
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        legend={"orientation": "h", "y": -0.3},
        uirevision="keep",
    )
    return fig


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def row_label(number: int, row: TableRow) -> str:
    """A row of the lesson's table in a few words, numbered as in the table above the chart."""
    return f"{number}. {row.activation}, lr {row.lr:g}, {row.weights}"


def table_figure(
    rows: list[TableRow], results: list[tuple[NetworkResult, NetworkResult]] | None, seeds: int = 1
) -> go.Figure:
    """Each row's test accuracy without (red) and with (blue) batch norm, joined by a grey line: the published
    numbers on the left, ours on the right once the table has trained (a cross: that network diverged). With
    several seeds per row (`results` row-major, row i's seed j at i * seeds + j) ours are their mean with a bar
    from the lowest to the highest seed."""
    from dcgan.bnlab.seeds import by_row, test_spread

    panels = [("published", None)] + ([("ours", results)] if results else [])
    fig = make_subplots(
        rows=1,
        cols=len(panels),
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=[
            "published (the lesson)",
            *([f"ours (this machine{f', mean and min-max of {seeds} seeds' if seeds > 1 else ''})"] if results else []),
        ],
    )
    labels = [row_label(i + 1, row) for i, row in enumerate(rows)]
    for col, (name, ours) in enumerate(panels, start=1):
        without: list[tuple[float | None, bool, int, float, float]]
        with_bn: list[tuple[float | None, bool, int, float, float]]
        if ours is None:
            without = [(r.without_bn, False, r.iterations, 0.0, 0.0) for r in rows]
            with_bn = [(r.with_bn, False, r.iterations, 0.0, 0.0) for r in rows]
        else:

            def point(rs: list[NetworkResult]) -> tuple[float | None, bool, int, float, float]:
                s = test_spread(rs)
                if s is None:
                    return None, any(r.diverged_at is not None for r in rs), rs[0].trained, 0.0, 0.0
                return (
                    s.mean,
                    any(r.diverged_at is not None for r in rs),
                    rs[0].trained,
                    s.high - s.mean,
                    s.mean - s.low,
                )

            grouped = by_row(ours, seeds)
            without = [point([a for a, _ in pairs]) for pairs in grouped]
            with_bn = [point([b for _, b in pairs]) for pairs in grouped]
        xs: list[float | None] = []
        ys: list[str | None] = []
        for label, (a, *_), (b, *_) in zip(labels, without, with_bn):
            xs += [a, b, None]
            ys += [label, label, None]
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="lines", line={"color": "#bbbbbb", "width": 2}, hoverinfo="skip", showlegend=False
            ),
            row=1,
            col=col,
        )
        for points, color, label in (
            (without, WITHOUT_COLOR, "without batch norm"),
            (with_bn, WITH_COLOR, "with batch norm"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in points],
                    y=labels,
                    mode="markers",
                    name=label,
                    legendgroup=label,
                    showlegend=col == len(panels),  # the legend in full colour when ours are there
                    marker={
                        "color": color,
                        "size": 11,
                        "symbol": ["x" if p[1] else "circle" for p in points],
                        "opacity": 0.55 if ours is None else 1.0,
                    },
                    error_x={
                        "type": "data",
                        "array": [p[3] for p in points],
                        "arrayminus": [p[4] for p in points],
                        "visible": ours is not None and seeds > 1,
                        "color": color,
                        "thickness": 2,
                        "width": 5,
                    },
                    customdata=[[p[2], "diverged" if p[1] else ""] for p in points],
                    hovertemplate=f"{name} {label}: %{{x:.4f}} after %{{customdata[0]:,}} iterations "
                    "%{customdata[1]}<extra>%{y}</extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(range=[0, 1.02], title_text="test accuracy", row=1, col=col)
    fig.update_yaxes(autorange="reversed", row=1, col=1)  # row 1 at the top, as in the table
    fig.update_layout(
        height=120 + 28 * len(rows),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.12},
        uirevision="keep",
    )
    return fig


def _accuracy(result: NetworkResult) -> float | None:
    a = result.test_accuracy
    return None if a is None or math.isnan(a) else a
