"""A run's sample grids as a timelapse: the saved grids (samples/stepNNNNNNN.png) in step order, each labelled
with its epoch, step and images seen, as animated-GIF or MP4 bytes; and several runs side by side, lined up by
images seen (steps × batch size), so runs with different batch sizes or dataset sizes are compared fairly.

Torch-free and Streamlit-free: the app (ui/timelapse.py, ui/compare_samples.py) and `python -m dcgan timelapse`
call these. MP4 needs PyAV (`pip install "dcgan-studio[video]"`), imported only when an MP4 is asked for.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from dcgan.errors import RunDamaged
from dcgan.runs.directory import RunDirectory

FORMATS = ("gif", "mp4")
MP4_PACKAGE_HINT = (
    'MP4 needs the PyAV package: pip install "dcgan-studio[video]" (or pip install av); GIF works without it'
)
LABEL_HEIGHT = 22  # pixels of the strip above a frame that holds its label
BACKGROUND = (255, 255, 255)


@dataclass
class TimelapseConfig:
    frame_ms: int = 250  # how long each grid shows, in milliseconds (4 grids a second)
    hold_last_ms: int = 2000  # the last grid stays this long before the animation loops, in milliseconds
    max_frames: int = 100  # grids in one timelapse at most; a longer run's are spread evenly, first and last kept
    min_width: int = 256  # a narrower grid is enlarged (whole pixels, nearest neighbour) to at least this width


class TimelapseUnavailable(ValueError):
    """No timelapse can be made (no readable grid, an unknown format, PyAV missing for MP4); says what to do."""


@dataclass(frozen=True)
class Frame:
    step: int
    path: Path
    epoch: float | None  # step / steps per epoch, None when the run does not say its steps per epoch
    images_seen: int | None  # step × images per step, None when the run says neither its batch size nor it
    png: bytes = b""  # the grid's file, read once: a long run thins its grids while a timelapse is made

    def label(self) -> str:
        """'epoch 2.50 · step 80 · 5,120 images'."""
        parts = [f"epoch {self.epoch:.2f}"] if self.epoch is not None else []
        parts.append(f"step {self.step:,}")
        if self.images_seen is not None:
            parts.append(f"{self.images_seen:,} images")
        return " · ".join(parts)


@dataclass
class Timelapse:
    run_name: str
    frames: list[Frame]
    notes: list[str] = field(default_factory=list)  # grids left out, and why


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def run_pace(run: RunDirectory) -> tuple[float | None, float | None]:
    """(steps per epoch, images per step) of a run: from status.json and config.json (the trainer's
    images_seen = step × batch_size), else read off its newest metrics line; None where nothing says."""
    status = run.read_status() or {}
    per_epoch = _number(status.get("steps_per_epoch"))
    try:
        per_step = _number(run.read_config().get("train", {}).get("batch_size"))
    except (FileNotFoundError, RunDamaged, AttributeError):
        per_step = None
    if per_epoch is None or per_step is None:
        records = run.read_metrics().records
        last = records[-1] if records else status.get("last") or {}
        step = _number(last.get("step"))
        if step and per_epoch is None and _number(last.get("epoch")):
            per_epoch = step / last["epoch"]
        if step and per_step is None and _number(last.get("images_seen")):
            per_step = last["images_seen"] / step
    return per_epoch, per_step


def spread_evenly(items: list, most: int) -> list:
    """At most `most` of `items`, evenly spaced, the first and the last always kept."""
    if len(items) <= most or most < 2:
        return items if most >= 2 else items[-most:] if most > 0 else []
    picks = sorted({round(i * (len(items) - 1) / (most - 1)) for i in range(most)})
    return [items[i] for i in picks]


def run_timelapse(
    run: RunDirectory, max_frames: int | None = None, only_steps: Iterable[int] | None = None
) -> Timelapse:
    """The run's grids in step order (those at `only_steps` when given: the set a view asked for, not grids saved
    since), each with its epoch and images seen. A grid that cannot be read as a picture (damaged, cut short, not
    a PNG) is left out and named in `notes`; so is the thinning of a long run."""
    per_epoch, per_step = run_pace(run)
    listed, notes = [], []
    wanted = set(only_steps) if only_steps is not None else None
    for step, path in run.samples():
        if wanted is None or step in wanted:
            epoch = step / per_epoch if per_epoch else None
            listed.append(Frame(step, path, epoch, round(step * per_step) if per_step else None))
    most = max_frames or TimelapseConfig.max_frames
    if len(listed) > most:
        notes.append(f"{len(listed)} grids: {most} of them, evenly spread (the first and the last kept)")
        listed = spread_evenly(listed, most)
    frames = []
    for frame in listed:  # read now, once: later a long run's thinning (runs/sample_grids.py) may delete them
        try:
            png = frame.path.read_bytes()
        except FileNotFoundError:
            continue  # thinned away since it was listed
        if not readable_picture(png):
            notes.append(f"samples/{frame.path.name} cannot be read as a picture (damaged or cut short): left out")
            continue
        frames.append(dataclasses.replace(frame, png=png))
    return Timelapse(run.name, frames, notes)


def readable_picture(png: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(png)) as image:
            image.load()
        return True
    except (OSError, ValueError, Image.DecompressionBombError):  # OSError covers PIL's UnidentifiedImageError
        return False


# -- drawing frames -----------------------------------------------------------------------------------------
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)  # a scalable font when Pillow has FreeType
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _enlarged(image: Image.Image, min_width: int) -> Image.Image:
    factor = max(1, -(-min_width // image.width))
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def labelled(image: Image.Image, text: str, min_width: int = TimelapseConfig.min_width) -> Image.Image:
    """The grid enlarged to at least `min_width` with a white strip above it holding `text`."""
    grid = _enlarged(image.convert("RGB"), min_width)
    canvas = Image.new("RGB", (grid.width, grid.height + LABEL_HEIGHT), BACKGROUND)
    canvas.paste(grid, (0, LABEL_HEIGHT))
    ImageDraw.Draw(canvas).text((6, 3), text, fill=(0, 0, 0), font=_font(LABEL_HEIGHT - 7))
    return canvas


def frame_images(timelapse: Timelapse, cfg: TimelapseConfig | None = None) -> list[Image.Image]:
    """Each frame's grid with its label drawn above it, in step order."""
    cfg = cfg or TimelapseConfig()
    images = []
    for frame in timelapse.frames:
        with Image.open(io.BytesIO(frame.png)) as grid:
            images.append(labelled(grid, frame.label(), cfg.min_width))
    return images


def side_by_side(panels: list[tuple[str, Image.Image | None, str]], gap: int = 8) -> Image.Image:
    """One frame of several runs: for each (run name, its grid or None when it has none yet, its label), the
    grid under two lines of text, left to right; a run with no grid yet gets an empty panel saying so."""
    grids = [_enlarged(g.convert("RGB"), TimelapseConfig.min_width // 2) if g else None for _, g, _ in panels]
    width = max((g.width for g in grids if g), default=TimelapseConfig.min_width // 2)
    height = max((g.height for g in grids if g), default=width)
    top = 2 * LABEL_HEIGHT
    canvas = Image.new("RGB", (len(panels) * (width + gap) - gap, height + top), BACKGROUND)
    draw, font = ImageDraw.Draw(canvas), _font(LABEL_HEIGHT - 8)
    for i, ((name, _, text), grid) in enumerate(zip(panels, grids)):
        left = i * (width + gap)
        draw.text((left + 4, 3), name, fill=(0, 0, 0), font=font)
        draw.text((left + 4, LABEL_HEIGHT + 1), text if grid else "no grid yet", fill=(60, 60, 60), font=font)
        if grid:
            canvas.paste(grid, (left, top))
    return canvas


# -- several runs, lined up by images seen ------------------------------------------------------------------
@dataclass
class Alignment:
    images_seen: list[int]  # the moments shown, in images seen: every grid's of every run, merged and sorted
    shown: dict[str, list[int | None]]  # per run, per moment: the index of its newest grid by then, None before any


def align_by_images(timelapses: list[Timelapse], max_moments: int | None = None) -> Alignment:
    """Line several runs' grids up by images seen: at each moment a run shows its newest grid taken at or before
    that many images, so a batch-64 run's step 80 and a batch-128 run's step 40 are shown together.
    Runs that cannot say their images seen (no batch size, no metrics) are refused: TimelapseUnavailable."""
    blind = [t.run_name for t in timelapses if any(f.images_seen is None for f in t.frames)]
    if blind:
        raise TimelapseUnavailable(
            f"cannot line up {', '.join(blind)} by images seen: config.json gives no batch size and no metrics "
            "line gives images seen"
        )
    moments = sorted({f.images_seen for t in timelapses for f in t.frames if f.images_seen is not None})
    moments = spread_evenly(moments, max_moments or TimelapseConfig.max_frames)
    shown: dict[str, list[int | None]] = {}
    for t in timelapses:
        seen = [f.images_seen or 0 for f in t.frames]
        shown[t.run_name] = [(bisect.bisect_right(seen, m) - 1) if seen and m >= seen[0] else None for m in moments]
    return Alignment(moments, shown)


def aligned_images(timelapses: list[Timelapse], alignment: Alignment) -> list[Image.Image]:
    """One side-by-side picture per moment of `alignment`, each run's grid labelled with its own epoch and step."""
    cache: dict[Path, Image.Image] = {}

    def grid(frame: Frame) -> Image.Image:
        if frame.path not in cache:
            with Image.open(io.BytesIO(frame.png)) as image:
                cache[frame.path] = image.convert("RGB")
        return cache[frame.path]

    pictures = []
    for k, moment in enumerate(alignment.images_seen):
        panels = []
        for t in timelapses:
            index = alignment.shown[t.run_name][k]
            frame = t.frames[index] if index is not None else None
            panels.append((t.run_name, grid(frame) if frame else None, frame.label() if frame else ""))
        picture = side_by_side(panels)
        caption = Image.new("RGB", (picture.width, LABEL_HEIGHT), BACKGROUND)
        ImageDraw.Draw(caption).text((4, 3), f"{moment:,} images seen", fill=(0, 0, 0), font=_font(LABEL_HEIGHT - 7))
        whole = Image.new("RGB", (picture.width, picture.height + LABEL_HEIGHT), BACKGROUND)
        whole.paste(caption, (0, 0))
        whole.paste(picture, (0, LABEL_HEIGHT))
        pictures.append(whole)
    return pictures


# -- encoding -----------------------------------------------------------------------------------------------
def encode(images: list[Image.Image], fmt: str, cfg: TimelapseConfig | None = None) -> bytes:
    """The frames as an animated GIF (looping, the last held) or an MP4 (H.264 when PyAV has it, else MPEG-4)."""
    cfg = cfg or TimelapseConfig()
    if not images:
        raise TimelapseUnavailable("no frames to encode: the run has no readable sample grid yet")
    from dcgan.images import gif_from_images, mp4_from_images  # late: dcgan.images loads torch

    if fmt == "gif":
        return gif_from_images(images, [cfg.frame_ms] * (len(images) - 1) + [cfg.hold_last_ms])
    if fmt == "mp4":
        try:
            import av  # noqa: F401  (PyAV: an optional extra, imported only when an MP4 is asked for)
        except ImportError:
            raise TimelapseUnavailable(MP4_PACKAGE_HINT) from None
        return mp4_from_images(images, cfg.frame_ms, cfg.hold_last_ms)
    raise TimelapseUnavailable(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")


def timelapse_bytes(
    run: RunDirectory, fmt: str, cfg: TimelapseConfig | None = None, only_steps: Iterable[int] | None = None
) -> tuple[bytes, Timelapse]:
    """A run's timelapse in `fmt` (gif or mp4) and what went into it (the grids at `only_steps` when given);
    TimelapseUnavailable says why there is none."""
    cfg = cfg or TimelapseConfig()
    if fmt not in FORMATS:
        raise TimelapseUnavailable(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    timelapse = run_timelapse(run, cfg.max_frames, only_steps)
    if not timelapse.frames:
        why = "; ".join(timelapse.notes) or "samples/ holds no stepNNNNNNN.png yet"
        raise TimelapseUnavailable(
            f"run {run.name} has no readable sample grid ({why}): grids are saved about every 30 s of training "
            "and at epoch ends"
        )
    return encode(frame_images(timelapse, cfg), fmt, cfg), timelapse
