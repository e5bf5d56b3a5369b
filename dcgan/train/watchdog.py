"""Says in words when a DCGAN run has gone wrong, and what to try, from its metrics as they arrive."""

from __future__ import annotations

from dataclasses import dataclass

from dcgan.runs.records import Metric

HEALTHY = (
    "Healthy DCGAN curves: D(x) and D(G(z)) settle between about 0.3 and 0.7 and move around; "
    "D loss stays well above 0 (near 2·ln 2 ≈ 1.4 means D is guessing); G loss wanders, 1–4 is usual."
)


@dataclass
class WatchdogConfig:
    window_steps: int = 300  # a verdict needs this many recent steps of readings, all pointing the same way
    warmup_steps: int = 300  # D usually wins the first ~200 steps and then G catches up: not judged
    min_records: int = 5  # fewer metrics lines than this in the window: too early to judge
    d_wins_loss: float = 0.1  # every D loss in the window below this ...
    d_wins_fake: float = 0.05  # ... and every D(G(z)) below this: D rejects every fake
    stalled_spread: float = 1e-4  # both losses' max - min below this over the window: nothing moves
    lr_factor: float = 0.5  # the suggested learning rate is the current one times this


@dataclass
class Finding:
    kind: str  # "diverged", "discriminator-wins" or "stalled"
    message: str  # what is wrong, in words
    advice: str  # what to try
    suggested_lr: float | None  # resume with this learning rate


def diagnose(records: list[dict], status: dict | None, lr: float, cfg: WatchdogConfig | None = None) -> list[Finding]:
    """Findings for a run's metrics (oldest first) and status; an empty list means nothing looks wrong."""
    cfg = cfg or WatchdogConfig()
    lower = lr * cfg.lr_factor
    status = status or {}
    if status.get("state") == "diverged":
        return [
            Finding(
                "diverged",
                status.get("message") or "the losses became NaN or infinite",
                f"Resume from the last healthy checkpoint with a lower learning rate ({lower:g}).",
                lower,
            )
        ]
    if not records:
        return []
    last_step = records[-1].get(Metric.STEP, 0)
    window = [r for r in records if r.get(Metric.STEP, 0) > last_step - cfg.window_steps]
    if last_step < cfg.warmup_steps + cfg.window_steps or len(window) < cfg.min_records:
        return []  # too early: a whole window after the warm-up is needed
    findings = []
    mean = lambda key: sum(r[key] for r in window) / len(window)
    if all(r[Metric.D_LOSS] < cfg.d_wins_loss and r[Metric.D_FAKE] < cfg.d_wins_fake for r in window):
        findings.append(
            Finding(
                "discriminator-wins",
                f"The discriminator is winning outright: over the last {len(window)} readings D loss averaged "
                f"{mean(Metric.D_LOSS):.3f} and D(G(z)) {mean(Metric.D_FAKE):.3f}, so the generator gets almost "
                "no gradient.",
                f"Resume with a lower learning rate ({lower:g}), add label smoothing (0.1), or make D narrower "
                "than G; batch norm in the generator also helps.",
                lower,
            )
        )
    spread = max(max(r[k] for r in window) - min(r[k] for r in window) for k in (Metric.D_LOSS, Metric.G_LOSS))
    if spread < cfg.stalled_spread:
        findings.append(
            Finding(
                "stalled",
                f"The losses stopped moving: over the last {len(window)} readings neither changed by more "
                f"than {spread:.1e}. The networks have saturated and are no longer learning.",
                f"Resume from the checkpoint with a lower learning rate ({lower:g}), or start again with another seed.",
                lower,
            )
        )
    return findings
