"""Every Plotly figure of the app: a run's metrics (the Train page's live charts and the run comparison), its
sample-quality scores. Views only call these; the batch-norm lab's figures are in lab_charts.py.

Plotly is imported here and in lab_charts.py only, so the engine (training, the GPU machine) never needs it.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dcgan.runs.live import thin
from dcgan.runs.records import METRIC_LABELS, Metric

MAX_POINTS = 2000  # per trace; longer runs are thinned evenly, the newest point always kept
HEALTHY_BAND = (0.3, 0.7)  # where D(x) and D(G(z)) settle in a healthy DCGAN run
MAX_EPOCH_MARKS = 40  # more epochs than this: draw every 2nd, 3rd... boundary, so the lines stay readable
MAX_EPOCH_LABELS = 8  # label at most about this many boundaries (labels are wider than lines)
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


FEW_POINTS = 20  # up to this many metrics lines, each is also drawn as a marker


def training_figure(records: list[dict], steps_per_epoch: int | None = None, height: int = 520) -> go.Figure:
    """Two panels against step: D and G loss; D(x) and D(G(z)) with the healthy band. Epochs are marked."""
    rows = thin(records, MAX_POINTS)
    steps = [r[Metric.STEP] for r in rows]
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=("Losses", "Discriminator outputs")
    )
    for row, key, color in (
        (1, Metric.D_LOSS, COLORS[0]),
        (1, Metric.G_LOSS, COLORS[1]),
        (2, Metric.D_REAL, COLORS[2]),
        (2, Metric.D_FAKE, COLORS[3]),
    ):
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=[r.get(key) for r in rows],
                name=METRIC_LABELS[key],
                mode="lines" if len(rows) > FEW_POINTS else "lines+markers",  # a run's first point is visible
                line={"color": color, "width": 1.6},
            ),
            row=row,
            col=1,
        )
    # Shapes and annotations are built as plain dicts and set once: plotly's add_vline validates the
    # whole layout on every call and cost over a second per figure for a 25-epoch run.
    shapes = [
        {
            "type": "rect",
            "xref": "x2 domain",
            "yref": "y2",
            "x0": 0,
            "x1": 1,
            "y0": HEALTHY_BAND[0],
            "y1": HEALTHY_BAND[1],
            "fillcolor": "green",
            "opacity": 0.08,
            "line": {"width": 0},
            "layer": "below",
        }
    ]
    titles = [
        {**a.to_plotly_json(), "x": 0, "xanchor": "left"} for a in fig.layout.annotations
    ]  # clear of epoch labels
    annotations = titles + [
        {
            "xref": "x2 domain",
            "yref": "y2",
            "x": 0.01,
            "y": HEALTHY_BAND[1],
            "text": "healthy band",
            "showarrow": False,
            "font": {"size": 10, "color": "green"},
            "xanchor": "left",
            "yanchor": "bottom",
        }
    ]
    if steps_per_epoch and steps:
        epochs = steps[-1] // steps_per_epoch
        every = max(1, -(-epochs // MAX_EPOCH_MARKS))
        label_every = every * max(1, -(-epochs // (every * MAX_EPOCH_LABELS)))
        for epoch in range(every, epochs + 1, every):
            x = epoch * steps_per_epoch
            shapes += [
                {
                    "type": "line",
                    "xref": axis,
                    "yref": f"{axis.replace('x', 'y')} domain",
                    "x0": x,
                    "x1": x,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": "gray", "dash": "dot", "width": 1},
                }
                for axis in ("x", "x2")
            ]
            if epoch % label_every == 0:
                annotations.append(
                    {
                        "xref": "x",
                        "yref": "y domain",
                        "x": x,
                        "y": 1,
                        "text": f"epoch {epoch}",
                        "showarrow": False,
                        "font": {"size": 10, "color": "gray"},
                        "xanchor": "right",
                        "yanchor": "bottom",
                    }
                )
    fig.update_yaxes(range=[0, 1], row=2, col=1)
    fig.update_layout(shapes=shapes, annotations=annotations)
    fig.update_xaxes(title_text="step", row=2, col=1)
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.15},
        uirevision="keep",
    )  # zoom survives refreshes
    return fig


# The x axes a run comparison offers: epochs mislead across dataset sizes, steps across batch sizes. Each title
# says what the axis counts, so a person reading the chart knows what is being lined up.
COMPARISON_AXES = {
    Metric.IMAGES_SEEN: "images seen (steps × batch size)",
    Metric.STEP: "step (one batch each; batch sizes may differ)",
    Metric.TIME: "training time in seconds (quality scoring left out)",
    Metric.EPOCH: "epoch (passes over each run's own training images)",
}


def run_colors(names: list[str]) -> dict[str, str]:
    """One colour per chosen run, by its place among the chosen: the same in the loss and quality comparisons,
    whether or not a run has metrics or scores yet."""
    return {name: COLORS[i % len(COLORS)] for i, name in enumerate(names)}


def comparison_figure(
    runs: dict[str, list[dict]], x: str = Metric.EPOCH, colors: dict[str, str] | None = None, height: int = 460
) -> go.Figure:
    """D loss (solid) and G loss (dashed) of several runs against `x` (a COMPARISON_AXES key), one colour per run."""
    colors = colors or run_colors(list(runs))
    fig = go.Figure()
    for name, records in runs.items():
        rows = thin(records, MAX_POINTS)
        xs = [r.get(x) for r in rows]
        color = colors.get(name, COLORS[0])
        for key, dash in ((Metric.D_LOSS, "solid"), (Metric.G_LOSS, "dash")):
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=[r.get(key) for r in rows],
                    name=f"{name} · {METRIC_LABELS[key]}",
                    mode="lines" if len(rows) > 1 else "markers",
                    line={"color": color, "width": 1.6, "dash": dash},
                    legendgroup=name,
                )
            )
    fig.update_layout(
        height=height,
        xaxis_title=COMPARISON_AXES.get(x, x),
        yaxis_title="loss",
        uirevision=f"keep-{x}",  # zoom survives refreshes, not a change of axis
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        showlegend=True,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def at_steps(records: list[dict], key: str, steps: list[int]) -> list[float | None]:
    """`key` (images seen, training time) at each of `steps`, read off a run's metrics lines: interpolated between
    lines, from 0 at step 0 before the first, and at the last line's rate after it. None where no line has it."""
    points = sorted((r[Metric.STEP], r[key]) for r in records if isinstance(r.get(key), (int, float)))
    if not points or points[-1][0] <= 0:
        return [None] * len(steps)
    points = [(0, 0.0)] + [p for p in points if p[0] > 0]
    last_step, last_value = points[-1]
    values: list[float | None] = []
    for step in steps:
        if step >= last_step:
            values.append(last_value + (step - last_step) * last_value / last_step)
            continue
        i = next(i for i, (s, _) in enumerate(points) if s >= step)
        (s0, v0), (s1, v1) = points[i - 1] if i else points[0], points[i]
        values.append(v1 if s1 == s0 else v0 + (v1 - v0) * (step - s0) / (s1 - s0))
    return values


MANIFOLD_SCORES = (
    ("precision", "precision (samples look real)", COLORS[0]),
    ("recall", "recall (the data's variety is made)", COLORS[1]),
    ("density", "density", COLORS[4]),
    ("coverage", "coverage (collapse leaves it low)", COLORS[5]),
)


def _classifier_title(record: dict) -> str:
    """Which classifier scored, its accuracy, and whether that is good enough, for a chart's title."""
    from dcgan.quality.score import (
        describe_classifier,  # late: quality/score.py loads torch, which the other charts never need
    )

    return describe_classifier(record) + ("" if record.get("reliable") is True else " — UNRELIABLE score")


def quality_figure(records: list[dict], height: int = 460) -> go.Figure:
    """Per epoch: the Fréchet distance (lower is better) above; precision, recall, density, coverage and the
    classifier's confidence below (0..1; density can pass 1). The title names the classifier and its accuracy."""
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        subplot_titles=("Fréchet distance (lower is better)", "Precision, recall, density, coverage"),
    )
    epochs = [r["epoch"] for r in records]
    fig.add_trace(
        go.Scatter(
            x=epochs,
            y=[r["frechet"] for r in records],
            name="Fréchet distance",
            mode="lines+markers",
            line={"color": COLORS[3]},
        ),
        row=1,
        col=1,
    )
    for key, name, color in MANIFOLD_SCORES:
        values = [r.get(key) for r in records]  # absent from lines written before these scores existed
        if any(v is not None for v in values):
            fig.add_trace(
                go.Scatter(x=epochs, y=values, name=name, mode="lines+markers", line={"color": color}), row=2, col=1
            )
    fig.add_trace(
        go.Scatter(
            x=epochs,
            y=[r["confidence"] for r in records],
            name="classifier confidence",
            mode="lines",
            line={"color": COLORS[2], "dash": "dot"},
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    densest = max([r.get("density") or 0 for r in records] + [1.0])
    fig.update_yaxes(range=[0, max(1.05, densest * 1.05)], row=2, col=1)
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        legend={"orientation": "h", "y": -0.2},
        uirevision="keep",
        title={
            "text": f"Sample quality per epoch · {_classifier_title(records[-1])}"
            if records
            else "Sample quality per epoch",
            "font": {"size": 14},
        },
    )
    return fig


def histogram_figure(record: dict, height: int = 300) -> go.Figure:
    """Which classes the generator makes: the share of samples per predicted class. Its biggest bar is red
    only when the score gave a collapse verdict (a reliable classifier saw one class make most samples)."""
    shares = record["histogram"]
    colors = [COLORS[1] if record.get("collapsed") is True and s == max(shares) else COLORS[0] for s in shares]
    fig = go.Figure(go.Bar(x=[str(i) for i in range(len(shares))], y=shares, marker_color=colors))
    fig.add_hline(y=1 / len(shares), line={"dash": "dot", "color": "gray"}, annotation_text="even")
    fig.update_xaxes(type="category")  # every digit labelled, not an axis of numbers
    doubt = "" if record.get("reliable") is True else " (unreliable classifier: no collapse verdict)"
    fig.update_layout(
        height=height,
        xaxis_title="predicted class",
        yaxis_title="share of samples",
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        uirevision="keep",
        title={"text": f"Classes made at epoch {record['epoch']:g}{doubt}", "font": {"size": 14}},
    )
    return fig


def quality_comparison_figure(
    runs: dict[str, list[dict]],
    x: str = Metric.EPOCH,
    colors: dict[str, str] | None = None,
    metrics: dict[str, list[dict]] | None = None,
    height: int = 320,
) -> go.Figure:
    """The Fréchet distance of several runs against `x`; a run whose score is unreliable is dashed and says so.
    A score line holds its epoch and step; images seen and training time are read off the run's `metrics` at that
    step (at_steps). Each run keeps its colour from `colors` and always has a legend entry, even when alone."""
    colors = colors or run_colors(list(runs))
    fig = go.Figure()
    for name, records in runs.items():
        reliable = bool(records) and records[-1].get("reliable") is True
        if x in (Metric.EPOCH, Metric.STEP):
            xs = [r.get(x) for r in records]
        else:
            xs = at_steps((metrics or {}).get(name) or [], x, [r[Metric.STEP] for r in records])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[r["frechet"] for r in records],
                name=name if reliable else f"{name} (unreliable score)",
                mode="lines+markers",
                line={"color": colors.get(name, COLORS[0]), "dash": "solid" if reliable else "dash"},
                showlegend=True,
            )
        )
    fig.update_layout(
        height=height,
        xaxis_title=COMPARISON_AXES.get(x, x),
        yaxis_title="Fréchet distance (lower is better)",
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        showlegend=True,
        legend={"orientation": "h", "y": -0.3},
        uirevision=f"keep-{x}",
    )
    return fig
