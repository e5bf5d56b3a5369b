"""Before a run trains again: is there a checkpoint to continue from, and does it belong to this config?

Checked before anything is written, so a refused resume leaves the run folder as it was.
"""

from __future__ import annotations

import torch

from dcgan.config import RunConfig
from dcgan.errors import CheckpointError, ConfigError, ResumeRefused, RunDamaged
from dcgan.runs.checkpoint import load_checkpoint
from dcgan.runs.directory import RunDirectory

# Settings a resume must keep: they shape the networks, the optimizers' tensors, the data order or the fixed
# latent batch the checkpoint holds. Everything else (epochs, lr, logging, checkpoint and score cadence) may change.
MUST_MATCH = {
    "model": ("image_size", "channels", "z_dim", "g_width", "d_width", "g_batchnorm", "d_batchnorm", "upsample"),
    "data": ("dataset", "folder", "limit"),
    "train": ("batch_size", "seed", "sample_count"),
}


def restart_hint(run: RunDirectory) -> str:
    return (
        "to start it again from step 0 on purpose, discarding its metrics and sample grids, use Restart in "
        f"the app or `python -m dcgan resume {run.name} --restart`"
    )


def checkpoint_to_resume(run: RunDirectory, config: RunConfig) -> dict | None:
    """The checkpoint to continue from, checked against `config`; None for a run that has not trained yet.

    ResumeRefused when the checkpoint is gone but the run has trained (resuming would silently start over
    and erase its metrics), or when config.json was edited so it no longer matches the checkpoint."""
    problems = run.file_problems()
    if problems:
        raise RunDamaged(f"run {run.name} is damaged ({'; '.join(problems)}): move that away, or delete the run")
    if not run.checkpoint_path.exists():
        trained = run.read_metrics().records or run.samples()
        if trained:
            raise ResumeRefused(
                f"run {run.name} has trained but its checkpoint.pt is gone, so it cannot continue; {restart_hint(run)}"
            )
        return None
    try:
        checkpoint = load_checkpoint(run.checkpoint_path)
    except CheckpointError as err:
        raise ResumeRefused(f"{err}; {restart_hint(run)}") from None
    try:
        saved = RunConfig.from_dict(checkpoint["config"]).validate().resolved()
    except ConfigError as err:
        raise CheckpointError(f"checkpoint.pt of run {run.name} holds an unreadable config ({err})") from None
    differences = config_differences(saved, config)
    if differences:
        raise ResumeRefused(
            f"config.json of run {run.name} no longer matches its checkpoint: "
            f"{'; '.join(differences)}. Put the setting back, or train a new run with it"
        )
    return checkpoint


def config_differences(saved: RunConfig, current: RunConfig) -> list[str]:
    """'model.g_width is 64 in config.json but 32 in the checkpoint', for each setting a resume must keep."""
    found = []
    for section, names in MUST_MATCH.items():
        for name in names:
            before, now = getattr(getattr(saved, section), name), getattr(getattr(current, section), name)
            if before != now:
                found.append(f"{section}.{name} is {now!r} in config.json but {before!r} in the checkpoint")
    return found


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
