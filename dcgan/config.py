"""Every setting of a run, one dataclass per concern, gathered in RunConfig and saved as config.json.

Flat field names are unique across the sections, so the CLI can offer each as a flag
(`--image-size 64`) and the app can build a config from a form without knowing the nesting.
Each field's trailing comment says what it is (unit, usual value): it is the one home of that text, read by
config_help.field_help() for the CLI's --help (and any form that wants it).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from dcgan.data.registry import DATASETS  # the dataset registry holds the one list of datasets
from dcgan.errors import ConfigError

UPSAMPLING = ("transpose", "resize")
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda", "mps")
COMPILE_MODES = ("auto", "on", "off")  # dcgan/train/fast_path.py says when auto compiles


# Upper bounds on the settings that size memory: far above any DCGAN people train (the paper: z 100,
# width 128 at 64 px), low enough that a typo or a hostile file cannot ask for gigabytes.
MAX_Z_DIM = 1024
MAX_WIDTH = 512
MAX_BATCH_SIZE = 4096
MAX_SAMPLE_COUNT = 1024  # images in one sample grid
MAX_SCORE_SAMPLES = 50_000  # generated images per quality score


def _check_finite(section, names: tuple[str, ...]) -> None:
    """NaN and infinity pass most range checks (every comparison with NaN is False): refuse them first."""
    for name in names:
        value = getattr(section, name)
        if not math.isfinite(value):
            raise ConfigError(f"{name.replace('_', ' ')} must be a finite number, not {value}")


@dataclass
class ModelConfig:
    image_size: int = 32  # side of the generated image in pixels: a power of two, 16..128
    channels: int = 3  # 1 = grayscale, 3 = RGB
    z_dim: int = 100  # length of the latent vector z
    g_width: int = 0  # generator channels at its last hidden layer (the lesson's conv_dim); 0 = 32 up to 32 px, else 64
    d_width: int = 0  # discriminator channels after its first conv; 0 = same rule as g_width
    g_batchnorm: bool = True  # batch norm on the generator's hidden layers
    d_batchnorm: bool = True  # batch norm on the discriminator's layers after the first
    leaky_slope: float = 0.2  # negative slope of the discriminator's leaky ReLU
    upsample: str = "transpose"  # "transpose" (the paper) or "resize" (nearest-neighbour + conv, Odena et al. 2016)

    def resolved(self) -> ModelConfig:
        """A copy with widths left at 0 set to the size's default (32 up to 32 px, 64 above)."""
        default_width = 32 if self.image_size <= 32 else 64
        return dataclasses.replace(self, g_width=self.g_width or default_width, d_width=self.d_width or default_width)

    def validate(self) -> None:
        _check_finite(self, ("leaky_slope",))
        size = self.image_size
        if size < 16 or size > 128 or size & (size - 1):
            raise ConfigError(
                f"image size {size} is not supported: use a power of two from 16 to 128 (32 or 64 usually)"
            )
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 (grayscale) or 3 (RGB), not {self.channels}")
        for name, most in (("z_dim", MAX_Z_DIM), ("g_width", MAX_WIDTH), ("d_width", MAX_WIDTH)):
            value = getattr(self, name)
            if not (1 if name == "z_dim" else 0) <= value <= most:
                raise ConfigError(
                    f"{name.replace('_', ' ')} must be a whole number from {1 if name == 'z_dim' else 0} "
                    f"to {most}, not {value}"
                )
        if not 0 <= self.leaky_slope < 1:
            raise ConfigError(f"leaky slope must be in [0, 1), not {self.leaky_slope}")
        if self.upsample not in UPSAMPLING:
            raise ConfigError(f"upsample must be one of {', '.join(UPSAMPLING)}, not {self.upsample!r}")


@dataclass
class DataConfig:
    dataset: str = "street-digits"  # which images to train on: a name in DATASETS (dcgan/data/registry.py)
    folder: str = ""  # image folder, for dataset "folder" (searched recursively)
    data_dir: str = ""  # downloads and caches; "" = $DCGAN_DATA_DIR or ./data (dcgan/paths.py)
    limit: int = 0  # use only the first N training images; 0 = all (tests, quick tries)

    def validate(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}: choose one of {', '.join(DATASETS)}")
        if self.dataset == "folder" and not self.folder:
            raise ConfigError("the folder dataset needs the path of a folder of images")
        if self.limit < 0:
            raise ConfigError(f"limit must be 0 (all images) or positive, not {self.limit}")


@dataclass
class TrainConfig:
    epochs: int = 5  # passes over the training images
    batch_size: int = 128  # images per step (the lessons and the paper use 128)
    lr: float = 2e-4  # Adam learning rate for both networks (paper: 0.0002)
    beta1: float = 0.5  # Adam beta1 (paper: 0.5; PyTorch's default 0.9 makes DCGAN unstable)
    beta2: float = 0.999  # Adam beta2
    label_smoothing: float = 0.0  # one-sided: real label = 1 - this (the lesson's 0.9 is 0.1 here)
    seed: int = 0  # seeds weights, noise, fixed z and the data order
    device: str = "auto"  # auto = CUDA, then MPS, then CPU
    precision: str = "auto"  # auto = bf16 autocast on CUDA, fp32 elsewhere
    compile: str = "auto"  # torch.compile the nets: auto = on CUDA when the run repays its warm-up; on; off
    cuda_graph: bool = True  # on CUDA, capture the whole step in one CUDA graph (removes launch overhead)
    sync_batchnorm: bool = True  # torchrun: batch norm over all processes' images; off = each its own (DataParallel)
    log_every: int = 20  # steps between lines of metrics.jsonl
    sample_every: int = 0  # steps between sample grids besides epoch ends; 0 = about every 30 s
    sample_count: int = 64  # images in a sample grid (a square number draws a square grid)
    checkpoint_every_s: float = 120.0  # seconds between checkpoints besides epoch ends
    # (a 1,000-image epoch lasts ~20 ms on a GPU, and a 64 px checkpoint takes 0.2 s to write)
    epoch_files_min_images: int = 20000  # images between epoch ends that write a checkpoint, snapshot, grid; 0 = all
    score_samples: int = 2000  # generated images scored in a classifier's features at each epoch's end; 0 = off
    score_every: int = 0  # steps between scores besides each epoch's end; 0 = epoch ends only
    # The GAN hacks (soumith/ganhacks), off by default (today's step); dcgan/train/gan_step.py applies them.
    d_steps: int = 1  # D updates per G update, each on fresh fakes: a D that lags behind G gives G poor gradients
    lr_g: float = 0.0  # G's own learning rate (TTUR, Heusel et al. 2017, often 1e-4); 0 = lr
    lr_d: float = 0.0  # D's own learning rate (TTUR: often 4e-4, D learns faster than G); 0 = lr
    label_flip: float = 0.0  # chance that a D target is swapped real<->fake: noisy labels keep D from certainty
    instance_noise: float = 0.0  # std of Gaussian noise on D's inputs (images in [-1, 1]): overlaps real and fake
    instance_noise_epochs: float = 1.0  # epochs over which that noise's std falls linearly to 0
    ema_half_life: int = 0  # images until an old G weight counts half in G's average (stylegan2-ada: 10000); 0 = off

    def validate(self) -> None:
        validate_gan_hacks(self)
        _check_finite(self, ("lr", "beta1", "beta2", "label_smoothing", "checkpoint_every_s"))
        for name in ("epochs", "batch_size", "log_every", "sample_count"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', ' ')} must be at least 1, not {getattr(self, name)}")
        for name, most in (
            ("batch_size", MAX_BATCH_SIZE),
            ("sample_count", MAX_SAMPLE_COUNT),
            ("score_samples", MAX_SCORE_SAMPLES),
        ):
            if getattr(self, name) > most:
                raise ConfigError(f"{name.replace('_', ' ')} must be at most {most}, not {getattr(self, name)}")
        if not self.checkpoint_every_s > 0:
            raise ConfigError(f"checkpoint every s must be a positive number of seconds, not {self.checkpoint_every_s}")
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be positive, not {self.lr} (the paper uses 0.0002)")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), not {getattr(self, name)}")
        if not 0 <= self.label_smoothing < 0.5:
            raise ConfigError(
                f"label smoothing must be in [0, 0.5), not {self.label_smoothing} (0.1 makes the real label 0.9)"
            )
        if self.score_every < 0:
            raise ConfigError("score every must be 0 (epoch ends only) or a positive number of steps")
        if self.score_samples < 0:
            raise ConfigError("score samples must be 0 (no quality score) or a positive number of images")
        if self.sample_every < 0:
            raise ConfigError("sample every must be 0 (automatic) or a positive number of steps")
        if self.epoch_files_min_images < 0:
            raise ConfigError("epoch files min images must be 0 (every epoch) or a positive number of images")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.compile not in COMPILE_MODES:
            raise ConfigError(f"compile must be one of {', '.join(COMPILE_MODES)}, not {self.compile!r}")


MAX_D_STEPS = 10  # beyond this G hardly trains at all


def validate_gan_hacks(t: TrainConfig) -> None:
    """The GAN-hack switches' bounds (kept apart from TrainConfig.validate, which checks the rest)."""
    _check_finite(t, ("lr_g", "lr_d", "label_flip", "instance_noise", "instance_noise_epochs"))
    if not 1 <= t.d_steps <= MAX_D_STEPS:
        raise ConfigError(f"D steps per G step must be a whole number from 1 to {MAX_D_STEPS}, not {t.d_steps}")
    for name in ("lr_g", "lr_d"):
        if getattr(t, name) < 0:
            raise ConfigError(f"{name.replace('_', ' ')} must be 0 (use lr) or positive, not {getattr(t, name)}")
    if not 0 <= t.label_flip <= 1:
        raise ConfigError(f"label flip is a probability, from 0 to 1 (ganhacks: 0.05), not {t.label_flip}")
    if t.instance_noise < 0:
        raise ConfigError(f"instance noise is a standard deviation: 0 (off) or positive, not {t.instance_noise}")
    if t.instance_noise_epochs <= 0:
        raise ConfigError(f"instance noise epochs must be positive, not {t.instance_noise_epochs}")
    if t.ema_half_life < 0:
        raise ConfigError(f"EMA half-life must be 0 (off) or a positive number of images, not {t.ema_half_life}")


RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def check_run_name(name: str) -> None:
    """ConfigError saying why `name` cannot name a run: it becomes the run's folder under the runs folder."""
    if RUN_NAME.fullmatch(name):
        return
    if name.startswith("."):
        why = (
            {".": "'.' is the runs folder itself", "..": "'..' is the folder above it"}.get(name)
            or ("'..' leads outside it" if name.startswith("..") else None)
            or "a name starting with a dot is hidden (such folders are runs still being created)"
        )
        raise ConfigError(
            f"run name {name!r} cannot start with a dot: the name becomes the run's folder under the runs folder, "
            f"and {why}. Start it with a letter or digit"
        )
    raise ConfigError(
        f"run name {name!r} can hold only letters, digits, '.', '_' and '-', starting with a letter or digit, at most "
        "80 characters: the name becomes the run's folder under the runs folder"
        + (", and a '/' would put it inside another folder" if "/" in name or "\\" in name else "")
    )


@dataclass
class RunConfig:
    name: str = ""  # run folder name under the runs directory; "" = dataset + time
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> RunConfig:
        """ConfigError naming the first setting that cannot work; changes nothing. Returns the config itself, so
        one read can be checked where it is made: RunConfig.from_dict(raw).validate()."""
        if self.name:
            check_run_name(self.name)
        self.model.validate()
        self.data.validate()
        self.train.validate()
        return self

    def resolved(self) -> RunConfig:
        """A copy with the settings left to their automatic value (the widths at 0) set to what training uses:
        what config.json holds, and what a run's checkpoint and a resume compare."""
        return dataclasses.replace(self, model=self.model.resolved())

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> RunConfig:
        """Build from nested JSON (config.json) or flat {field: value}; unknown keys are an error."""
        raw = dict(raw)
        for name in SECTIONS:
            if name in raw and not isinstance(raw[name], dict):
                raise ConfigError(f"'{name}' must be an object of settings, not {raw[name]!r:.40}")
        nested = {name: raw.pop(name) for name in SECTIONS if name in raw}
        extra = {k: raw.pop(k) for k in ("version", "device_used", "created", "distributed") if k in raw}
        del extra  # written for people and tools, not settings
        flat = {}
        for section, values in nested.items():
            flat.update({f"{section}.{k}": v for k, v in values.items()})
        flat.update(raw)
        return apply_overrides(cls(), flat)


SECTIONS = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}


def field_kind(f: dataclasses.Field) -> str:
    """A field's type as a word: "int", "float", "bool" or "str" (annotations are strings here, from
    `from __future__ import annotations`; a class is named by its __name__ all the same)."""
    annotation = f.type
    return annotation if isinstance(annotation, str) else annotation.__name__


def field_index() -> dict[str, tuple[str, dataclasses.Field]]:
    """Flat field name -> (section, field); 'name' maps to the top level."""
    index = {"name": ("", next(f for f in dataclasses.fields(RunConfig) if f.name == "name"))}
    for section, klass in SECTIONS.items():
        for f in dataclasses.fields(klass):
            index[f.name] = (section, f)
    return index


KIND_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text"}


def _coerce(value, kind: str, key: str):
    """Turn a JSON or command-line value into the field's type, or say why it cannot be."""
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind == "float":
            return float(value)
        if isinstance(value, bool) and key.split(".")[-1] == "compile":
            return "on" if value else "off"  # config.json of runs made when compile was true or false
        return str(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{key} expects {KIND_WORDS.get(kind, 'a ' + kind)}, got {value!r}") from None


def apply_overrides(config: RunConfig, overrides: dict) -> RunConfig:
    """Set fields from {'lr': 0.001} or {'train.lr': 0.001}; unknown keys and wrong types are errors."""
    index = field_index()
    for key, value in overrides.items():
        short = key.split(".")[-1]
        if short not in index or ("." in key and key.split(".")[0] != index[short][0]):
            raise ConfigError(f"unknown setting {key!r}")
        section, f = index[short]
        target = getattr(config, section) if section else config
        setattr(target, short, _coerce(value, field_kind(f), key))
    return config


def section_from_dict(klass, raw, where: str):
    """One section (say ModelConfig) from a plain dict read from a file, every value coerced to its field's
    type; unknown keys, wrong types and a non-dict are ConfigErrors that name `where` (the file)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a JSON object of settings, found {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(klass)}
    unknown = sorted(str(k) for k in raw if k not in fields)
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r}")
    values = {}
    for key, value in raw.items():
        values[key] = _coerce(value, field_kind(fields[key]), key)
    return klass(**values)


def load_config_file(path: str | Path) -> RunConfig:
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"config file {path} is not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return RunConfig.from_dict(raw)
