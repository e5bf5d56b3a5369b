"""Files the latent explorer and `sample` take from outside: generator files and pictures.

A fuzz run mutates a valid generator file in every way an outside test found harmful (cut short, flipped
bytes, wrong tensors, absurd settings, missing and extra keys) and checks that each one either loads or is
refused with a one-line CheckpointError naming the file, without memory growing. It runs in a fresh
process: that process's peak resident memory is then a true measure (this one's may already be higher).
"""

import copy
import io
import json
import math
import random
import resource
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from dcgan.config import ModelConfig
from dcgan.data.image_file import MAX_IMAGE_PIXELS, decode, read_image
from dcgan.errors import CheckpointError, UnreadableImage
from dcgan.latent.projection import target_from_file
from dcgan.models import build_models
from dcgan.runs.generator_file import GENERATOR_FORMAT, load_generator

# Not from conftest: in_fresh_process imports this file as tests.test_generator_files, without pytest's path.
ROOT = Path(__file__).resolve().parent.parent

FUZZ_SEED = 20240611
FUZZ_COUNT = 300
MAX_GROWTH_MB = 200  # peak memory a fuzz run may add over loading one valid file
MAX_MESSAGE_CHARS = 500  # a refusal is one readable line, never a dump of the file's contents
TINY = ModelConfig(image_size=16, g_width=8, d_width=8, z_dim=16)
DTYPES = (
    torch.int8,
    torch.int32,
    torch.int64,
    torch.uint8,
    torch.bool,
    torch.float16,
    torch.bfloat16,
    torch.float64,
    torch.complex64,
)
ABSURD_SETTINGS = (
    2800,
    10**6,
    2**40,
    10**30,
    -1,
    0,
    -0.0,
    32.5,
    1e300,
    float("nan"),
    float("inf"),
    float("-inf"),
    "abc",
    "",
    "32",
    "x" * 5000,
    None,
    True,
    [1, 2],
    {"nested": {"deeper": [1]}},
    torch.zeros(3),
    torch.tensor(64),
)
ODD_VALUES = (None, 1, 2.5, "text", [1, 2], {"a": 1}, (1,), torch.zeros(()), torch.zeros(10**5), b"bytes")


# -- a valid file and its mutations ---------------------------------------------------------------------
def valid_generator() -> dict:
    torch.manual_seed(0)
    G, _ = build_models(TINY)
    buffer = io.BytesIO()
    torch.save(
        {
            "format": GENERATOR_FORMAT,
            "model": {k: getattr(G.cfg, k) for k in ModelConfig.__dataclass_fields__},
            "state_dict": G.state_dict(),
            "step": 3,
            "dataset": "street-digits",
            "run": "tiny",
        },
        buffer,
    )
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def record_span(data: bytes, suffix: str) -> tuple[int, int]:
    """Where the bytes of the zip record whose name ends with `suffix` lie in `data`."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(suffix))
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_length + extra_length  # after the 30-byte local header
    return start, start + info.compress_size


def flipped(data: bytes, rng: random.Random, start: int, end: int) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(start, end)] ^= 1 << rng.randrange(8)
    return bytes(out)


def any_weight(rng, obj) -> str:
    return rng.choice(sorted(obj["state_dict"]))


def _truncate(rng, obj, data):
    return f"cut at {(at := rng.randrange(len(data)))}", data[:at]


def _flip_pickle(rng, obj, data):
    return "flipped in data.pkl", flipped(data, rng, *record_span(data, "data.pkl"))


def _flip_tensor_data(rng, obj, data):
    return "flipped in tensor data", flipped(data, rng, *record_span(data, f"data/{rng.randrange(4)}"))


def _flip_anywhere(rng, obj, data):
    return "flipped anywhere", flipped(data, rng, 0, len(data))


def _wrong_dtype(rng, obj, data):
    key, dtype = any_weight(rng, obj), rng.choice(DTYPES)
    obj["state_dict"][key] = obj["state_dict"][key].to(dtype)
    return f"{key} as {dtype}", saved(obj)


def _wrong_shape(rng, obj, data):
    key = any_weight(rng, obj)
    tensor = obj["state_dict"][key]
    obj["state_dict"][key] = rng.choice(
        [
            tensor.flatten(),
            tensor[None],
            torch.zeros(0),
            torch.zeros(()),
            torch.zeros(tensor.numel() + 1),
            tensor.reshape(1, -1),
        ]
    )
    return f"{key} reshaped", saved(obj)


def _odd_weight(rng, obj, data):
    key, value = any_weight(rng, obj), rng.choice(ODD_VALUES)
    obj["state_dict"][key] = value
    return f"{key} = {type(value).__name__}", saved(obj)


def _non_finite_weight(rng, obj, data):
    key = rng.choice([k for k, v in obj["state_dict"].items() if v.is_floating_point()])
    obj["state_dict"][key].view(-1)[0] = rng.choice([math.nan, math.inf, -math.inf])
    return f"non-finite {key}", saved(obj)


def _absurd_setting(rng, obj, data):
    key, value = rng.choice(sorted(obj["model"])), rng.choice(ABSURD_SETTINGS)
    obj["model"][key] = value
    return f"model {key} = {type(value).__name__}", saved(obj)


def _missing_key(rng, obj, data):
    where = rng.choice([obj, obj["model"], obj["state_dict"]])
    key = rng.choice(sorted(where))
    del where[key]
    return f"no {key}", saved(obj)


def _extra_key(rng, obj, data):
    where, value = rng.choice([obj, obj["model"], obj["state_dict"]]), rng.choice(ODD_VALUES)
    where[rng.choice(["extra", "notes", "project.weight2", 7])] = value
    return "extra key", saved(obj)


def _wrong_top_level(rng, obj, data):
    return "not a dict", saved(rng.choice([[obj], (obj,), torch.zeros(3), 5, "generator", None, list(obj)]))


def _wrong_metadata(rng, obj, data):
    key, value = rng.choice(["step", "dataset", "run", "epochs", "format"]), rng.choice(ODD_VALUES)
    obj[key] = value
    return f"{key} = {type(value).__name__}", saved(obj)


# Mutation kinds that never leave a usable file (others may: a flipped bit in a weight, a bias "reshaped" to
# its own shape, a weight stored as float16).
ALWAYS_REFUSED = {"non_finite_weight", "odd_weight", "wrong_top_level"}
MUTATIONS = (
    _truncate,
    _flip_pickle,
    _flip_tensor_data,
    _flip_anywhere,
    _wrong_dtype,
    _wrong_shape,
    _odd_weight,
    _non_finite_weight,
    _absurd_setting,
    _missing_key,
    _extra_key,
    _wrong_top_level,
    _wrong_metadata,
)


def mutated_files(seed: int, count: int):
    """`count` (name, bytes) pairs, the same for the same seed: each mutation kind in turn."""
    rng = random.Random(seed)
    base = valid_generator()
    data = saved(base)
    for i in range(count):
        mutate = MUTATIONS[i % len(MUTATIONS)]
        label, mutated = mutate(rng, copy.deepcopy(base), data)
        yield f"fuzz-{i:03d}.pt ({mutate.__name__[1:]}: {label})", mutated


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes


def fuzz_report(seed: int, count: int) -> dict:
    """Load every mutated file; what happened, and how much the peak memory grew over one valid load."""
    load_generator(io.BytesIO(saved(valid_generator())), name="valid.pt")
    baseline = peak_rss_mb()
    outcomes = {"loaded": [], "refused": 0, "crashed": [], "bad_messages": []}
    for name, data in mutated_files(seed, count):
        try:
            load_generator(io.BytesIO(data), name=name)
            outcomes["loaded"].append(name)
        except CheckpointError as err:
            outcomes["refused"] += 1
            message = str(err)
            if name not in message or "\n" in message or len(message) > MAX_MESSAGE_CHARS:
                outcomes["bad_messages"].append(message[: 2 * MAX_MESSAGE_CHARS])
        except Exception as err:
            outcomes["crashed"].append(f"{name}: {type(err).__name__}: {str(err)[:300]}")
    outcomes["growth_mb"] = peak_rss_mb() - baseline
    return outcomes


def in_fresh_process(call: str) -> dict:
    """Run `call` (an expression of this module's functions returning a dict) in a new Python; its result.
    One torch thread: these networks are tiny, and on a busy 2-core machine two threads wait on each other
    (a 16 px generator's forward pass took 200 ms instead of 1 ms)."""
    code = (
        f"import json, torch; torch.set_num_threads(1); from tests.test_generator_files import *; "
        f"print(json.dumps({call}))"
    )  # run from the repository's root, where `tests` is importable
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fresh_process() -> dict:
    """The memory-measured checks, in one new Python (importing torch takes seconds): the wide-settings
    refusal first, while the peak is still that of a bare process, then the fuzz run."""
    return in_fresh_process(
        f"{{'wide': refusal_with_peak_growth('wide.pt', wide_settings_small_tensors()), "
        f"'fuzz': fuzz_report({FUZZ_SEED}, {FUZZ_COUNT})}}"
    )


# -- the fuzz run ---------------------------------------------------------------------------------------
def test_mutations_are_deterministic_and_cover_every_kind():
    first = [name for name, _ in mutated_files(FUZZ_SEED, 2 * len(MUTATIONS))]
    assert first == [name for name, _ in mutated_files(FUZZ_SEED, 2 * len(MUTATIONS))]
    assert {name.split("(")[1].split(":")[0] for name in first} == {m.__name__[1:] for m in MUTATIONS}


@pytest.mark.slow  # a fresh Python process that loads hundreds of mutated files
def test_every_mutated_generator_file_loads_or_is_refused_clearly_without_growing_memory(fresh_process):
    report = fresh_process["fuzz"]
    assert report["crashed"] == [], "\n".join(report["crashed"])
    assert report["bad_messages"] == [], "\n".join(report["bad_messages"])
    assert len(report["loaded"]) + report["refused"] == FUZZ_COUNT
    assert [name for name in report["loaded"] if name.split("(")[1].split(":")[0] in ALWAYS_REFUSED] == []
    assert report["refused"] > FUZZ_COUNT // 2  # the mutations do break files: the test exercises refusals
    assert report["growth_mb"] < MAX_GROWTH_MB, report


# -- focused cases --------------------------------------------------------------------------------------
def refusal_with_peak_growth(name: str, obj: dict) -> dict:
    """Load `obj` as a file called `name`: its refusal message and how much the peak memory grew."""
    data = saved(obj)
    baseline = peak_rss_mb()
    started = time.perf_counter()
    try:
        load_generator(io.BytesIO(data), name=name)
        message = None
    except CheckpointError as err:
        message = str(err)
    return {"message": message, "seconds": time.perf_counter() - started, "growth_mb": peak_rss_mb() - baseline}


def wide_settings_small_tensors() -> dict:
    """A small file whose settings claim the widest network allowed at 64 px: about 0.9 GB if it were built."""
    obj = valid_generator()
    obj["model"].update(image_size=64, z_dim=1024, g_width=512)
    return obj


MEMORY_OF_A_REFUSAL_MB = 50  # building the network the settings claim would take about 900 MB


@pytest.mark.slow  # a fresh Python process that loads hundreds of mutated files
def test_settings_that_do_not_fit_the_tensors_are_refused_before_the_network_is_built(fresh_process):
    result = fresh_process["wide"]
    assert result["message"] and result["message"].startswith("wide.pt does not match its own model settings")
    assert result["growth_mb"] < MEMORY_OF_A_REFUSAL_MB and result["seconds"] < 1.0, result


# -- pictures for the Projection tab --------------------------------------------------------------------
def png_claiming(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose header (IHDR) claims width x height, with a correct CRC so Pillow believes it."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 30, 30)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    # 8-byte signature, then IHDR: length (4), "IHDR" (4), width (4), height (4), 5 more bytes, CRC of type + data
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def named(data: bytes, name: str) -> io.BytesIO:
    """An in-memory file with a name, as Streamlit hands over an upload."""
    file = io.BytesIO(data)
    file.name = name
    return file


def test_png_claiming_20000_by_20000_pixels_is_refused_by_name_before_decoding(tmp_path):
    bomb = png_claiming(20_000, 20_000)  # Pillow itself refuses this size, with DecompressionBombError
    with pytest.raises(UnreadableImage, match=r"^bomb\.png is too large: its header claims 400 megapixels"):
        target_from_file(named(bomb, "bomb.png"), 32, 3)
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    assert decode(path, 32, 3) is None  # a folder skips it as unreadable


def test_png_over_the_pixel_limit_is_refused_with_its_size_before_decoding():
    width, height = 9000, 8000  # 72 megapixels: under Pillow's own limit, over ours
    assert width * height > MAX_IMAGE_PIXELS
    started = time.perf_counter()
    with pytest.raises(UnreadableImage, match=r"^big\.png is too large: 9000×8000 pixels \(72 megapixels\)"):
        read_image(named(png_claiming(width, height), "big.png"), 32, 3)
    assert time.perf_counter() - started < 0.5  # the header alone was read


def test_a_text_file_named_png_is_not_an_image():
    with pytest.raises(UnreadableImage, match=r"^notes\.png is not an image"):
        target_from_file(named(b"just some text", "notes.png"), 32, 3)


def picture_bytes(kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.effect_mandelbrot((48, 40), (-2, -1.5, 1, 1.5), 60).convert("RGB").save(buffer, format=kind)
    return buffer.getvalue()


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow warns, then reads the damaged TIFF anyway
@pytest.mark.parametrize("kind", ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"])
def test_damaged_pictures_decode_or_are_refused_never_crash(kind):
    rng = random.Random(FUZZ_SEED)
    data = picture_bytes(kind)
    assert read_image(named(data, f"fine.{kind.lower()}"), 16, 3).shape == (3, 16, 16)
    for i in range(40):
        damaged = data[: rng.randrange(len(data))] if i % 2 else flipped(data, rng, 0, len(data))
        try:
            assert read_image(named(damaged, f"damaged-{i}.{kind.lower()}"), 16, 1).shape == (1, 16, 16)
        except UnreadableImage as err:
            assert str(err).startswith(f"damaged-{i}.{kind.lower()} ")
