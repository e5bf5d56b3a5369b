"""Says in words when a DCGAN run has gone wrong, and what to try, from its metrics as they arrive."""

from __future__ import annotations

from dataclasses import dataclass

from dcgan.config import TrainConfig
from dcgan.runs.records import Metric

HEALTHY = (
    "Healthy DCGAN curves: D(x) and D(G(z)) settle between about 0.3 and 0.7 and move around; "
    "D loss stays well above 0 (near 2·ln 2 ≈ 1.4 means D is guessing); G loss wanders, 1–4 is usual."
)


@dataclass
class WatchdogConfig:
    window_steps: int = 300  # a verdict needs this many recent steps of readings, all pointing the same way
    warmup_steps: int = 300  # D usually wins the first ~200 steps and then G catches up: not judged
    short_window_steps: int = 100  # a run too short for a whole window is judged on this many steps after warm-up
    min_records: int = 5  # fewer metrics lines than this in the window: too early to judge
    d_wins_loss: float = 0.1  # every D loss in the window below this ...
    d_wins_fake: float = 0.05  # ... and every D(G(z)) below this: D rejects every fake
    stalled_spread: float = 1e-4  # both losses' max - min below this over the window: nothing moves
    lr_factor: float = 0.5  # the suggested learning rate is the current one times this ...
    lr_ceiling: float = TrainConfig.lr  # ... and never above the paper's 2e-4, which is known to train
    ahead_gap: float = 0.4  # before a verdict: mean D(x) - mean D(G(z)) above this over the last readings = D ahead
    recent_readings: int = 5  # how many of the newest readings that early guidance reads


@dataclass
class Finding:
    kind: str  # "diverged", "discriminator-wins" or "stalled"
    message: str  # what is wrong, in words
    advice: str  # what to try
    suggested_lr: float | None  # resume with this learning rate
    hedged: bool = False  # guidance before the evidence for a verdict is in (early_guidance), not a problem


def diagnose(records: list[dict], status: dict | None, lr: float, cfg: WatchdogConfig | None = None) -> list[Finding]:
    """Findings for a run's metrics (oldest first) and status; an empty list means nothing looks wrong."""
    cfg = cfg or WatchdogConfig()
    lower = lower_lr(lr, cfg)
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
    window_steps = _window_steps(status, cfg)
    window = [r for r in records if r.get(Metric.STEP, 0) > last_step - window_steps]
    if last_step < cfg.warmup_steps + window_steps or len(window) < cfg.min_records:
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


def lower_lr(lr: float, cfg: WatchdogConfig | None = None) -> float:
    """The learning rate to try after trouble at `lr`: half of it, but no more than the paper's. Halving alone
    after a run diverged at lr 1e30 would suggest 5e29, which diverges again."""
    cfg = cfg or WatchdogConfig()
    return min(lr * cfg.lr_factor, cfg.lr_ceiling)


def _window_steps(status: dict, cfg: WatchdogConfig) -> int:
    """The steps a verdict reads: cfg.window_steps, or for a run whose total is shorter than the warm-up and a
    whole window, its steps after the warm-up (at least cfg.short_window_steps), so a short run is judged too."""
    total = status.get("total_steps")
    if isinstance(total, int) and total < cfg.warmup_steps + cfg.window_steps:
        return max(cfg.short_window_steps, total - cfg.warmup_steps)
    return cfg.window_steps


def verdict_step(status: dict | None, cfg: WatchdogConfig | None = None) -> int:
    """The step from which `diagnose` can judge a run (its warm-up and one window)."""
    cfg = cfg or WatchdogConfig()
    return cfg.warmup_steps + _window_steps(status or {}, cfg)


def early_guidance(records: list[dict], status: dict | None, cfg: WatchdogConfig | None = None) -> Finding | None:
    """Hedged words before `diagnose` can give a verdict: while D leads in the first few hundred steps (usual, and
    what worries people most), and for a run that ended before a verdict was possible (too short to judge).
    None once a verdict is possible, for a diverged run, and while nothing stands out."""
    cfg = cfg or WatchdogConfig()
    status = status or {}
    if not records or status.get("state") == "diverged":
        return None
    last_step = records[-1].get(Metric.STEP, 0)
    judged_from = verdict_step(status, cfg)
    if last_step >= judged_from:
        return None
    recent = records[-cfg.recent_readings :]
    mean = lambda key: sum(r.get(key, 0.0) for r in recent) / len(recent)
    d_real, d_fake = mean(Metric.D_REAL), mean(Metric.D_FAKE)
    ahead = d_real - d_fake > cfg.ahead_gap
    readings = f"D(x) {d_real:.2f}, D(G(z)) {d_fake:.2f} over the last {len(recent)} readings"
    if status.get("state") == "finished":
        total = status.get("total_steps") or last_step
        per_epoch = status.get("steps_per_epoch")
        epochs = (
            f" (about {-(-judged_from // per_epoch)} epochs at {per_epoch:,} steps each)"
            if isinstance(per_epoch, int) and per_epoch > 0
            else ""
        )
        lead = (
            f"D was ahead at its end ({readings}), which is usual this early: whether G would have caught up, "
            "the run does not show."
            if ahead
            else f"At its end neither network was far ahead ({readings})."
        )
        return Finding(
            "too-short",
            f"Too short to judge: this run ended at step {total:,}, before the {judged_from:,} steps a verdict "
            "needs (D usually leads for the first few hundred).",
            f"{lead} Train for at least {judged_from:,} steps{epochs} to get one.",
            None,
            hedged=True,
        )
    if not ahead:
        return None  # nothing to say yet: the caption under the chart says what healthy curves look like
    return Finding(
        "early",
        f"Too early to judge (step {last_step:,}; the watchdog gives a verdict from step {judged_from:,}).",
        f"D is ahead ({readings}), which is usual for the first few hundred steps: G usually catches up after "
        "that. Nothing to do yet.",
        None,
        hedged=True,
    )
