"""The lab's results as terminal text: a pair (with its seeds' spread and the inside view's last record), the
table beside the published numbers, and the sweep's gains. Used by `python -m dcgan bn-lab` and the benchmarks."""

from __future__ import annotations

from dcgan.bnlab.experiment import NetworkResult
from dcgan.bnlab.inside import SATURATION_MEANING
from dcgan.bnlab.seeds import Spread, by_row, test_spread


def _spread_text(s: Spread | None) -> str:
    if s is None:
        return "   —  "
    return f"{s.mean:.4f}" if s.count == 1 or s.low == s.high else f"{s.mean:.4f} [{s.low:.4f}-{s.high:.4f}]"


def pair_lines(pairs: list[tuple[NetworkResult, NetworkResult]]) -> list[str]:
    """Test accuracies (mean and [min-max] over the seeds), then per network its inside view at the last record."""
    lines = []
    for side in (0, 1):
        results = [pair[side] for pair in pairs]
        diverged = sum(r.diverged_at is not None for r in results)
        note = f" ({diverged} of {len(results)} diverged)" if diverged else ""
        seeds = f" over {len(results)} seeds" if len(results) > 1 else ""
        lines.append(f"test accuracy {results[0].label}{seeds}: {_spread_text(test_spread(results))}{note}")
    for result in pairs[0]:
        lines += inside_lines(result, len(pairs) > 1)
    return lines


def inside_lines(result: NetworkResult, first_seed: bool = False) -> list[str]:
    """The inside view's last record of one network as a small table, one line per layer."""
    t = result.inside
    if t is None or not t.iterations:
        return []
    k = len(t.iterations) - 1
    seed = ", first seed" if first_seed else ""
    lines = [
        f"inside {result.label} at iteration {t.iterations[k]:,}{seed} (training loss {t.loss[k]:.3f}):",
        f"  {'layer':8s} {'pre-act 5-95%':>20s} {'saturated':>9s} {'grad let through':>16s} "
        f"{'grad norm':>10s} {'update/weight':>13s}",
    ]
    for layer, quantiles in enumerate(t.pre_quantiles[k]):
        lines.append(
            f"  hidden {layer + 1:<1d} {quantiles[0]:>9.3g} to {quantiles[-1]:<7.3g} {t.saturated[k][layer]:>9.1%} "
            f"{t.grad_passed[k][layer]:>16.3f} {t.grad_norm[k][layer]:>10.3g} {t.update_ratio[k][layer]:>13.2e}"
        )
    lines.append(
        f"  {'output':8s} {'':>20s} {'':>9s} {'':>16s} {t.grad_norm[k][-1]:>10.3g} {t.update_ratio[k][-1]:>13.2e}"
    )
    return lines


def saturation_note(activation: str) -> str:
    return f"saturated: {SATURATION_MEANING[activation]}; update/weight: ~1e-3 is the usual healthy size"


def table_lines(rows, results, seeds: int = 1) -> list[str]:
    """The lesson's table with ours beside the published accuracies (* = a network diverged); with seeds, our
    mean and [min-max] over them."""
    grouped = by_row(results, seeds)
    mark = lambda rs: _spread_text(test_spread(rs)) + ("*" if any(r.diverged_at for r in rs) else " ")
    width = 8 if seeds == 1 else 26
    over = f" (mean [min-max] of {seeds} seeds)" if seeds > 1 else ""
    lines = [f"{'weights':10s} {'lr':>4s} {'activation':10s} {'published':>27s} | ours{over}"]
    for row, pairs in zip(rows, grouped):
        without, with_bn = [a for a, _ in pairs], [b for _, b in pairs]
        lines.append(
            f"{row.weights:10s} {row.lr:4g} {row.activation:10s} {row.iterations:6d} its "
            f"{row.without_bn:.4f} / {row.with_bn:.4f} | {without[0].trained:6d} its {mark(without):>{width}s}/ "
            f"{mark(with_bn):>{width}s}"
        )
    mean = lambda rs: s.mean if (s := test_spread(rs)) else 0.0
    ahead = sum(mean([b for _, b in pairs]) > mean([a for a, _ in pairs]) for pairs in grouped)
    lines.append(f"(* diverged: a loss became NaN or infinite) batch norm ahead in {ahead} of {len(rows)} rows")
    return lines


def sweep_lines(sweep, results) -> list[str]:
    """The sweep's gain (with - without batch norm, test accuracy) per cell, one small table per starting weights."""
    from dcgan.bnlab.sweep import gains

    cells = gains(sweep, results)
    lines = []
    for weights in sweep.weights:
        lines.append(f"gain from batch norm, {weights} starting weights ({sweep.iterations:,} iterations):")
        lines.append(f"  {'':10s}" + "".join(f"{'lr ' + format(lr, 'g'):>10s}" for lr in sweep.lrs))
        for activation in sweep.activations:
            row = [c for c in cells if c["weights"] == weights and c["activation"] == activation]
            lines.append(
                f"  {activation:10s}"
                + "".join(f"{c['gain'].mean:>+10.3f}" if c["gain"] else f"{'—':>10s}" for c in row)
            )
    return lines
