"""The pair's inside view: per layer of both networks, side by side, what batch norm changes as they train.

Over time: each hidden layer's pre-activations (quantile bands), the share of saturated or dead units, how much
of the gradient each activation lets through, each weight matrix's gradient norm and update-to-weight ratio
(log scale, with the usual ~1e-3 line). At one recorded iteration (the slider): each layer's histograms. The
numbers come from dcgan/bnlab/inside.py; Plotly only here and in lab_charts.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dcgan.bnlab.inside import SATURATION_MEANING
from ui.lab_charts import PAIR_COLORS

if TYPE_CHECKING:
    from dcgan.bnlab.experiment import NetworkResult
    from dcgan.bnlab.inside import InsideTrace

HEALTHY_UPDATE_RATIO = 1e-3  # Karpathy's rule of thumb: updates about a thousandth of the weights
LAYER_COLORS = ["#2ca02c", "#ff7f0e", "#9467bd", "#7f7f7f"]  # hidden 1-3, then the output layer
SIDES = ("without batch norm", "with batch norm")


def _layer_name(i: int, hidden: int) -> str:
    return f"hidden {i + 1}" if i < hidden else "output"


def _band(fig: go.Figure, x, low, high, color: str, opacity: float, row: int, col: int, name: str) -> None:
    fig.add_trace(
        go.Scatter(x=x, y=high, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"), row, col
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=low,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=_rgba(color, opacity),
            name=name,
            showlegend=False,
            hoverinfo="skip",
        ),
        row,
        col,
    )


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def distribution_figure(traces: tuple[InsideTrace, InsideTrace], which: str = "pre") -> go.Figure:
    """Rows: hidden layers; columns: without, with batch norm. The 5-95% band, the 25-75% band and the median of
    the layer's pre-activations ("pre") or activations ("act") over the recorded iterations."""
    hidden = len(traces[0].saturated[0]) if traces[0].saturated else 3
    fig = make_subplots(
        rows=hidden,
        cols=2,
        shared_xaxes=True,
        column_titles=list(SIDES),
        row_titles=[f"hidden {i + 1}" for i in range(hidden)],
        horizontal_spacing=0.06,
        vertical_spacing=0.05,
    )
    for col, (trace, bn) in enumerate(zip(traces, (False, True)), start=1):
        quantiles = trace.pre_quantiles if which == "pre" else trace.act_quantiles
        color = PAIR_COLORS[bn]
        for layer in range(hidden):
            q = lambda k: [r[layer][k] for r in quantiles]  # noqa: B023 - used at once
            x = trace.iterations
            _band(fig, x, q(0), q(4), color, 0.18, layer + 1, col, "5-95%")
            _band(fig, x, q(1), q(3), color, 0.35, layer + 1, col, "25-75%")
            fig.add_trace(
                go.Scatter(
                    x=x, y=q(2), mode="lines", line={"color": color, "width": 1.5}, name="median", showlegend=False
                ),
                layer + 1,
                col,
            )
    title = "pre-activation (the activation's input)" if which == "pre" else "activation"
    fig.update_layout(
        height=110 + 150 * hidden,
        margin={"l": 10, "r": 30, "t": 70, "b": 10},
        uirevision="keep",
        title={"text": f"{title}: median, 25-75% and 5-95% of the batch's values", "font": {"size": 13}, "y": 0.99},
    )
    fig.update_xaxes(title_text="iteration", row=hidden)
    return fig


def per_layer_figure(traces: tuple[InsideTrace, InsideTrace], metric: str) -> go.Figure:
    """One line per layer over the recorded iterations, without | with batch norm side by side, same y axis.
    metric: saturated, grad_passed, grad_norm or update_ratio."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=list(SIDES), horizontal_spacing=0.05)
    for col, trace in enumerate(traces, start=1):
        records = getattr(trace, metric)
        layers = len(records[0]) if records else 0
        hidden = len(trace.saturated[0]) if trace.saturated else 3
        for layer in range(layers):
            fig.add_trace(
                go.Scatter(
                    x=trace.iterations,
                    y=[r[layer] for r in records],
                    mode="lines",
                    name=_layer_name(layer, hidden),
                    legendgroup=str(layer),
                    showlegend=col == 1,
                    line={"color": LAYER_COLORS[layer % len(LAYER_COLORS)], "width": 1.6},
                ),
                1,
                col,
            )
    log = metric in ("grad_norm", "update_ratio", "grad_passed")
    if metric == "update_ratio":
        for col in (1, 2):
            fig.add_hline(
                y=HEALTHY_UPDATE_RATIO,
                line={"dash": "dash", "color": "#444", "width": 1},
                row=1,
                col=col,
            )
    fig.update_yaxes(type="log" if log else "linear", dtick=1 if log else None)  # both columns: one shared axis
    fig.update_yaxes(title_text=_Y_TITLES[metric], row=1, col=1)
    if metric == "saturated":
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_xaxes(title_text="iteration")
    fig.update_layout(
        height=300,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": -0.3},
        uirevision="keep",
    )
    return fig


_Y_TITLES = {
    "saturated": "saturated / dead",
    "grad_passed": "gradient let through",
    "grad_norm": "‖dLoss/dW‖",
    "update_ratio": "‖update‖ / ‖W‖",
}


def histogram_figure(traces: tuple[InsideTrace, InsideTrace], record: int) -> go.Figure:
    """Rows: hidden layers; columns: pre-activation and activation without, then with batch norm; the batch's
    values at recorded iteration `record` (an index)."""
    hidden = len(traces[0].pre_histograms[record])
    titles = [f"{kind}, {side}" for side in ("without BN", "with BN") for kind in ("pre-activation", "activation")]
    fig = make_subplots(
        rows=hidden, cols=4, column_titles=titles, row_titles=[f"hidden {i + 1}" for i in range(hidden)]
    )
    for side, (trace, bn) in enumerate(zip(traces, (False, True))):
        for kind, histograms in enumerate((trace.pre_histograms, trace.act_histograms)):
            for layer, (low, high, counts) in enumerate(histograms[record]):
                width = (high - low) / len(counts) if high > low else 1.0
                fig.add_trace(
                    go.Bar(
                        x=[low + width * (i + 0.5) for i in range(len(counts))],
                        y=counts,
                        width=width,
                        marker={"color": PAIR_COLORS[bn], "line": {"width": 0}},
                        showlegend=False,
                        hovertemplate="%{x:.3g}: %{y}<extra></extra>",
                    ),
                    layer + 1,
                    2 * side + kind + 1,
                )
    fig.update_layout(height=90 + 140 * hidden, margin={"l": 10, "r": 30, "t": 40, "b": 10}, bargap=0)
    fig.update_annotations(font_size=12)
    return fig


def inside_view(pairs: list[tuple[NetworkResult, NetworkResult]], activation: str, key: str) -> None:
    """The inside view of a pair (of the seed picked when there are several); a note when it was not recorded."""
    seeds = len(pairs)
    if not pairs or pairs[0][0].inside is None or pairs[0][1].inside is None:
        st.caption("The inside view was not recorded for this pair: tick *Record the inside view* and train it again.")
        return
    seed = 0
    if seeds > 1:
        seed = st.selectbox(
            "Seed shown inside",
            range(seeds),
            format_func=lambda j: f"seed {j + 1} of {seeds}",
            key=f"{key}-seed",
            help="the inside view is per network: one seed's pair at a time",
        )
    traces = (pairs[seed][0].inside, pairs[seed][1].inside)
    if not traces[0].iterations or not traces[1].iterations:
        st.caption("The inside view's first record comes at the first iteration…")
        return
    meaning = SATURATION_MEANING.get(activation, "")
    tabs = st.tabs(["Over time", "Histograms at one iteration"])
    with tabs[0]:
        st.markdown(f"**Saturated units** ({meaning})")
        st.plotly_chart(per_layer_figure(traces, "saturated"), key=f"{key}-saturated")
        st.markdown(
            "**Gradient let through** by each hidden layer's activation: ‖dLoss/d pre-activation‖ / "
            "‖dLoss/d activation‖ (a sigmoid passes at most 0.25, a saturated one almost nothing: the gradient "
            "vanishes)"
        )
        st.plotly_chart(per_layer_figure(traces, "grad_passed"), key=f"{key}-passed")
        st.markdown(
            "**Update-to-weight ratio** ‖lr · dLoss/dW‖ / ‖W‖ per weight matrix; the dashed line is the usual 1e-3"
        )
        st.plotly_chart(per_layer_figure(traces, "update_ratio"), key=f"{key}-ratio")
        st.markdown("**Gradient norm** ‖dLoss/dW‖ per weight matrix")
        st.plotly_chart(per_layer_figure(traces, "grad_norm"), key=f"{key}-grad")
        st.plotly_chart(distribution_figure(traces, "pre"), key=f"{key}-pre")
        st.plotly_chart(distribution_figure(traces, "act"), key=f"{key}-act")
    with tabs[1]:
        iterations = traces[0].iterations[: len(traces[1].iterations)]
        chosen = st.session_state.get(f"{key}-it")
        if chosen not in iterations:  # a first look, or records of another pair: the newest
            st.session_state[f"{key}-it"] = iterations[-1]
        if len(iterations) > 1:
            st.select_slider("Recorded iteration", options=iterations, key=f"{key}-it")
        at = iterations.index(st.session_state[f"{key}-it"])
        st.plotly_chart(histogram_figure(traces, at), key=f"{key}-hist")
    n = len(traces[0].iterations)
    every = traces[0].iterations[-1] - traces[0].iterations[-2] if n > 2 else 0  # the first record is at 1
    st.caption(
        f"Measured on each training batch of 60 at {n} recorded iterations"
        + (f" (the first, then every {every if every > 1 else 1})" if n > 1 else "")
        + ", from the step's own tensors (no extra pass). Gradients are the batch's, not the whole data's."
    )
