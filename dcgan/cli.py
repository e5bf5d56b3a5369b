"""`python -m dcgan train | resume | rollback | sample | runs | timelapse | bn-lab | latent`: the app's engine,
from a terminal.

Bad input (unknown dataset, unsupported size, a missing run, a foreign checkpoint, an absent
device) prints one line on stderr and exits with status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import sys
from pathlib import Path

from dcgan.bnlab import cli as bnlab_cli
from dcgan.config import (
    COMPILE_MODES,
    DEVICES,
    MAX_SAMPLE_COUNT,
    PRECISIONS,
    UPSAMPLING,
    DataConfig,
    apply_overrides,
    field_index,
    load_config_file,
)
from dcgan.config_help import field_help
from dcgan.data.registry import DATASETS
from dcgan.errors import ConfigError
from dcgan.latent import cli as latent_cli
from dcgan.runs import rollback_cli, timelapse_cli
from dcgan.runs.records import Metric
from dcgan.train.terminal import train_in_terminal
from dcgan.train.torchrun_env import torchrun_place

USAGE_ERROR = 2
IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp")  # what `sample -o` writes (Pillow picks the format by suffix)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        raise ConfigError(f"{message} (see {_help_command(self.prog)})")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but unknown flags are blamed on the (sub)command they were given to: argparse reports
        them from the top parser, whose help does not list the flags that command takes."""
        known, unknown = self.parse_known_args(args, namespace)
        if unknown:
            prog = getattr(known, "help_prog", self.prog)
            raise ConfigError(f"unrecognized arguments: {' '.join(unknown)} (see {_help_command(prog)})")
        return known


def _help_command(prog: str) -> str:
    """'dcgan latent map' -> 'python -m dcgan latent map --help', the command that lists what it takes."""
    return f"python -m {prog} --help"


def _remember_progs(parser: argparse.ArgumentParser) -> None:
    """Each subcommand's parser records its own name in the namespace (help_prog), the deepest one last."""
    parser.set_defaults(help_prog=parser.prog)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _remember_progs(sub)


CHOICES = {
    "dataset": DATASETS,
    "device": DEVICES,
    "precision": PRECISIONS,
    "upsample": UPSAMPLING,
    "compile": COMPILE_MODES,
}


def _shown(value) -> str:
    return '""' if value == "" else str(value)


def _default_text(name: str, f: dataclasses.Field) -> str:
    """'default 5' (what `train` starts from: the default dataset's preset, else the field's default) and, where
    other datasets' presets differ, those: 'default 5; svhn 25, mnist 10, ...'."""
    from dcgan.data.presets import DATASET_PRESETS

    default = f.default if f.default is not dataclasses.MISSING else None
    by_dataset = {dataset: preset.get(name, default) for dataset, preset in DATASET_PRESETS.items()}
    usual = by_dataset.get(DataConfig.dataset, default)
    others = [f"{dataset} {_shown(value)}" for dataset, value in by_dataset.items() if value != usual]
    return f"default {_shown(usual)}" + (f"; {', '.join(others)}" if others else "")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """A flag for every config field (--image-size, --no-g-batchnorm, ...), defaulting to 'not given'. Its help is
    the field's comment in dcgan/config.py (field_help) and the value `train` starts from."""
    helps = field_help()
    for name, (_, f) in field_index().items():
        flag = "--" + name.replace("_", "-")
        what = helps.get(name) or name.replace("_", " ")
        if name in CHOICES:
            what += f" [{', '.join(CHOICES[name])}]"
        help_text = f"{what} ({_default_text(name, f)})".replace("%", "%%")  # argparse formats help with %
        if f.type == "bool":
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=name, default=None, metavar=name.upper(), help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dcgan", description="Train and sample Deep Convolutional GANs (DCGAN Studio).")
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        parser_class=_Parser,
        metavar="{train,resume,rollback,sample,runs,timelapse,bn-lab,latent}",
    )  # `worker` is for background runs only
    train = sub.add_parser(
        "train",
        help="train a new run in this terminal",
        description="Train a new run. Settings start from the dataset's preset (the same as "
        "the app's form); flags and --config override them.",
    )
    train.add_argument("--config", help="a JSON file of settings (flags given here override it)")
    train.add_argument("--runs-dir", help="where run folders live (default: $DCGAN_RUNS_DIR or ./runs)")
    train.add_argument("--background", action="store_true", help="start the run detached and return at once")
    _add_config_flags(train)
    resume = sub.add_parser("resume", help="continue a run from its last checkpoint")
    resume.add_argument("run", help="run folder, or a run's name under the runs directory")
    resume.add_argument("--runs-dir")
    resume.add_argument("--lr", type=float, help="resume with this learning rate (after a divergence, say)")
    resume.add_argument("--background", action="store_true")
    resume.add_argument(
        "--restart",
        action="store_true",
        help="start again from step 0, discarding the run's checkpoint, metrics and sample grids",
    )
    rollback_cli.add_parser(sub)
    sample = sub.add_parser("sample", help="draw a grid of images from a generator")
    sample.add_argument("generator", help="a generator.pt, or a run folder that holds one")
    sample.add_argument("-n", type=int, default=64, help="number of images (default 64)")
    sample.add_argument("-o", "--output", default="samples.png", help="PNG to write (default samples.png)")
    sample.add_argument("--seed", type=int, default=0)
    runs = sub.add_parser("runs", help="list runs and their state")
    runs.add_argument("--runs-dir")
    timelapse_cli.add_parser(sub)
    bnlab_cli.add_parser(sub)
    latent_cli.add_parser(sub)
    worker = sub.add_parser("worker")  # what a background run executes (left out of the usage line above)
    worker.add_argument("run")
    _remember_progs(parser)
    return parser


def check_runs_dir(runs_dir: str | None) -> None:
    if runs_dir and Path(runs_dir).exists() and not Path(runs_dir).is_dir():
        raise ConfigError(f"--runs-dir {runs_dir} is not a folder: give a folder (it is created if missing)")


def resolve_run(name: str, runs_dir: str | None):
    from dcgan.paths import runs_root
    from dcgan.runs.directory import RunDirectory

    check_runs_dir(runs_dir)
    for candidate in (Path(name), runs_root(runs_dir) / name):
        if (candidate / "config.json").exists():
            return RunDirectory(candidate)
    if (runs_root(runs_dir) / name).is_dir():
        raise FileNotFoundError(f"run {name} has no config.json, so it cannot be resumed: delete its folder")
    raise FileNotFoundError(
        f"no run folder {name!r} (looked in . and {runs_root(runs_dir)}); `python -m dcgan runs` lists them"
    )


def config_from_args(args):
    """`train`'s RunConfig: --config's file or the dataset's preset, then the flags."""
    from dcgan.data.presets import preset_config

    overrides = {name: getattr(args, name) for name in field_index() if getattr(args, name) is not None}
    if args.config:
        config = load_config_file(args.config)  # a whole config: every setting as the file says, then the flags
    else:  # the dataset's preset, as the app's form opens on it, then the flags
        config = preset_config(overrides.get("dataset") or DataConfig.dataset)
    return apply_overrides(config, overrides)


def _cmd_train(args) -> int:
    from dcgan.runs.manage import create_run, launch

    config = config_from_args(args)
    check_runs_dir(args.runs_dir)
    run = create_run(config, args.runs_dir)
    if args.background:
        print(f"started {run.name} in the background (pid {launch(run)}); follow it with `python -m dcgan runs`")
        return 0
    return train_in_terminal(run)


def _cmd_resume(args) -> int:
    from dcgan.runs.manage import launch, prepare_resume

    run = resolve_run(args.run, args.runs_dir)
    if args.background:
        pid = launch(run, args.lr, args.restart)
        print(f"{'restarted' if args.restart else 'resumed'} {run.name} in the background (pid {pid})")
        return 0
    run.acquire_lock()  # before any change: a resume refused because the run is training changes nothing
    try:
        prepare_resume(run, args.lr, args.restart)
    except BaseException:
        run.release_lock()
        raise
    return train_in_terminal(run)


def _cmd_sample(args) -> int:
    import torch

    from dcgan.fileio import atomic_save_image
    from dcgan.images import image_grid
    from dcgan.models import seeded_z
    from dcgan.runs.generator_file import load_generator

    if not 1 <= args.n <= MAX_SAMPLE_COUNT:
        raise ConfigError(f"-n must be from 1 to {MAX_SAMPLE_COUNT}, not {args.n}")
    output = Path(args.output)
    if output.suffix.lower() not in IMAGE_OUTPUTS:
        raise ConfigError(f"-o {args.output}: the file name must end in {', '.join(IMAGE_OUTPUTS)}")
    if not output.parent.is_dir():
        raise ConfigError(f"-o {args.output}: the folder {output.parent} does not exist")
    path = Path(args.generator)
    path = path / "generator.pt" if path.is_dir() else path
    G, meta = load_generator(path)
    z = seeded_z(args.seed, args.n, G.cfg.z_dim)
    with torch.no_grad():
        atomic_save_image(args.output, image_grid(G(z)))
    print(f"wrote {args.n} samples from {path} ({meta.get('dataset')}, step {meta.get('step')}) to {args.output}")
    return 0


def _cmd_runs(args) -> int:
    from dcgan.runs.manage import list_runs

    check_runs_dir(args.runs_dir)
    rows = list_runs(args.runs_dir)
    if not rows:
        print("no runs yet: start one with `python -m dcgan train`")
        return 0
    print(f"{'name':32} {'dataset':14} {'state':12} {'epoch':>11} {'D loss':>7} {'G loss':>7} {'img/s':>8}")
    for r in rows:
        if r["problem"]:
            print(f"{r['name'][:32]:32} {'-':14} {r['state']:12} {r['problem']}")
            continue
        fmt = lambda v, spec: format(v, spec) if isinstance(v, (int, float)) else "-"
        print(
            f"{r['name'][:32]:32} {str(r['dataset'])[:14]:14} {r['state']:12} "
            f"{fmt(r['epoch'], '.2f'):>5}/{fmt(r['epochs'], 'd'):<5} {fmt(r[Metric.D_LOSS], '.3f'):>7} "
            f"{fmt(r[Metric.G_LOSS], '.3f'):>7} {fmt(r[Metric.IMAGES_PER_S], '.0f'):>8}"
        )
    return 0


def _cmd_worker(args) -> int:
    from dcgan.runs.directory import RunDirectory
    from dcgan.runs.lock import LOCK_FD_ENV
    from dcgan.train.trainer import train_run

    inherited = os.environ.pop(LOCK_FD_ENV, None)  # the launcher's lock, handed to this process
    final = train_run(RunDirectory(args.run), lock_fd=int(inherited) if inherited else None)
    print(f"{final['state']}: {final.get('message')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from dcgan.errors import CheckpointError, DatasetUnavailable, RunLocked

    commands = {
        "train": _cmd_train,
        "resume": _cmd_resume,
        "rollback": rollback_cli.run,
        "sample": _cmd_sample,
        "runs": _cmd_runs,
        "worker": _cmd_worker,
        "timelapse": timelapse_cli.run,
        "bn-lab": bnlab_cli.run,
        "latent": latent_cli.run,
    }
    try:
        args = build_parser().parse_args(argv)
        place = torchrun_place() if args.command in ("train", "resume", "worker") else None
        if place is not None:  # started by torchrun with several processes: they train the run together
            from dcgan.train.torchrun_cli import run_under_torchrun

            return run_under_torchrun(args, place)
        return commands[args.command](args)
    except (ConfigError, DatasetUnavailable, CheckpointError, RunLocked, FileNotFoundError, ValueError) as err:
        print(f"dcgan: error: {err}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as err:  # a full disk, a runs folder that is a file, a folder without permission...
        from dcgan.train.failures import describe_error

        print(
            f"dcgan: error: {describe_os_error(err) if err.errno != errno.ENOSPC else describe_error(err)}",
            file=sys.stderr,
        )
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("dcgan: interrupted", file=sys.stderr)
        return 130


def describe_os_error(err: OSError) -> str:
    where = f": {err.filename}" if err.filename else ""
    return f"{err.strerror or err}{where}"
