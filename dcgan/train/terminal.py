"""A training run in a terminal: its progress bar with ETA, quality scores as they come, and the last word.

What `python -m dcgan train | resume | rollback` and each torchrun process's rank 0 show while the engine trains.
"""

from __future__ import annotations

import sys

from dcgan.progress import ProgressBar, format_duration
from dcgan.runs.records import Metric


def train_in_terminal(run, team=None, abort_fn=None, lock_fd: int | None = None) -> int:
    from dcgan.train.trainer import train_run

    print(f"run folder: {run.path}", file=sys.stderr)
    bar = preparing = None
    scores_shown: set[int | None] = set()  # the steps whose score was printed

    def progress(status: dict) -> None:
        nonlocal bar, preparing
        if status.get("preparing"):  # the scoring classifier trains before the first step (once per dataset)
            preparing = _show_preparing(status, preparing)
            return
        if preparing:
            preparing.close()
            preparing = None
        _print_new_score(status.get("quality"), scores_shown, bar)
        if "epoch" not in status:  # a score asked for before the first metrics line
            return
        if bar is None:  # the first progress report: the data is loaded, say what of it was left out
            _print_skipped(status)
        bar = bar or ProgressBar(status.get("total_steps") or 1, label=run.name)
        last = status.get("last", {})
        bar.update(
            status["step"],
            f"steps | epoch {status['epoch']:.2f} | {status['images_per_s']:.0f} img/s | "
            f"D {last.get(Metric.D_LOSS, 0):.3f} G {last.get(Metric.G_LOSS, 0):.3f} |",
            status.get("eta_s"),
        )

    final = train_run(run, progress_fn=progress, abort_fn=abort_fn, lock_fd=lock_fd, team=team)
    if bar:
        bar.close()
    else:  # ended before its first progress report
        _print_skipped(final)
    print(
        f"{final['state']}: {final.get('message') or ''} (step {final.get('step')}, "
        f"{format_duration(final.get('elapsed_s'))} of training{_scoring_share(final)})",
        file=sys.stderr,
    )
    if final["state"] == "finished" and not scores_shown and isinstance(final.get("score_plan"), dict):
        from dcgan.quality.tracker import describe_plan

        print(
            "no quality score: the run was too short for one within its budget "
            f"({describe_plan(final['score_plan'])}); "
            "train longer, or ask for one with --score-every STEPS",
            file=sys.stderr,
        )
    return 0 if final["state"] in ("finished", "stopped") else 1


def _show_preparing(status: dict, bar):
    """The scoring classifier's training, on its own progress bar: a run's first step waits on it."""
    if bar is None:
        print(status.get("message") or "preparing the quality score", file=sys.stderr)
        bar = ProgressBar(1000, label=status["preparing"].get("task") or "preparing")
    step = status["preparing"]
    done = step.get("done") or 0
    bar.update(int(done * 1000), step.get("detail") or "", step.get("eta_s"), force=done >= 1)  # its end always shows
    return bar


def _print_new_score(record: dict | None, shown: set[int | None], bar) -> None:
    """A quality score, once, on its own line above the progress bar, with its classifier's accuracy."""
    from dcgan.quality.score import describe_score

    if not record or record.get("step") in shown:
        return
    shown.add(record.get("step"))
    print(("\r\033[K" if bar and bar.tty else "") + describe_score(record), file=sys.stderr)


def _scoring_share(status: dict) -> str:
    """', 2.1 s of quality scoring (3.4%)' from the final status; '' when nothing was scored."""
    scoring, training = status.get("scoring_s"), status.get("elapsed_s")
    if not isinstance(scoring, (int, float)) or not isinstance(training, (int, float)) or training <= 0:
        return ""
    return f", {scoring:.1f} s of quality scoring besides ({scoring / training:.1%})"


def _print_skipped(status: dict) -> None:
    """A folder's skipped files (status.json's skipped_files), before the progress bar starts."""
    from dcgan.data.folder import describe_skipped_report

    said = describe_skipped_report(status.get("skipped_files"))
    if said:
        print(f"{said}; training on the other {status.get('images') or 0:,} images", file=sys.stderr)
