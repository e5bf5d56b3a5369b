"""Each loader on small files written in the real formats (this machine cannot download the real ones)."""

import io
import os
import pickle
import shlex
import struct
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.config import DataConfig
from dcgan.data.loading import count_train_images, ensure_available, load_images, preview
from dcgan.data.street_digits import render_street_digits
from dcgan.errors import DatasetUnavailable
from dcgan.images import image_grid


def write_svhn(root, n=12):
    from scipy.io import savemat

    (root / "svhn").mkdir(parents=True)
    x = np.random.default_rng(0).integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    y = np.arange(n).reshape(n, 1) % 10
    y[y == 0] = 10  # SVHN's .mat stores the digit 0 as label 10
    savemat(root / "svhn" / "train_32x32.mat", {"X": x, "y": y})
    return x, y


def write_idx(root, folder, n=10, prefixes=("train", "t10k"), gzipped=False):
    """MNIST's idx files as published: big-endian headers, then bytes; gzipped as on its download page."""
    import gzip

    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    images = np.random.default_rng(1).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    for prefix in prefixes:
        files = {
            f"{prefix}-images-idx3-ubyte": np.array([0x00000803, n, 28, 28], ">i4").tobytes() + images.tobytes(),
            f"{prefix}-labels-idx1-ubyte": np.array([0x00000801, n], ">i4").tobytes()
            + (np.arange(n) % 10).astype(np.uint8).tobytes(),
        }
        for name, data in files.items():
            if gzipped:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
    return images


class Python2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote CIFAR-10's files: every string a Python 2 str (BINSTRING, read back
    with encoding="latin1"), so an array's bytes are no _codecs.encode call, and numpy.core.multiarray by that name."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_python2_str(self, text):
        raw = text.encode("latin1") if isinstance(text, str) else text
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(text)

    dispatch[str] = dispatch[bytes] = save_python2_str

    def save_global(self, obj, name=None):
        if getattr(obj, "__name__", "") == "_reconstruct":  # numpy 2 calls its module numpy._core.multiarray
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def python2_dumps(obj) -> bytes:
    out = io.BytesIO()
    Python2Pickler(out, protocol=2).dump(obj)
    return out.getvalue()


def python3_dumps(obj) -> bytes:  # the same dicts re-saved from Python 3 at CIFAR's protocol: bytes via _codecs.encode
    return pickle.dumps(obj, protocol=2)


def write_cifar(root, n=6, dumps=python2_dumps):
    """CIFAR-10's cifar-10-batches-py folder with `n` images a batch, as the official archive lays it out."""
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = {
        name: {
            "batch_label": f"batch {i + 1} of {len(names)}",
            "labels": [int(label) for label in rng.integers(0, 10, n)],
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "filenames": [f"image_{i}_{j}.png" for j in range(n)],
        }
        for i, name in enumerate(names)
    }
    for name, batch in batches.items():
        (folder / name).write_bytes(dumps(batch))
    (folder / "batches.meta").write_bytes(
        dumps({"label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch": n, "num_vis": 3072})
    )
    return batches


class RunsCode:
    """A pickled object that, when loaded by plain pickle, leaves a marker file: the code-running pickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def test_svhn_mat_file(tmp_path):
    x, y = write_svhn(tmp_path)
    data = load_images(DataConfig(dataset="svhn", data_dir=str(tmp_path)), 32, 3)
    assert data.images.shape == (12, 3, 32, 32) and data.images.dtype == torch.uint8
    assert torch.equal(data.images[3], torch.from_numpy(x[..., 3].transpose(2, 0, 1)))
    assert data.labels[0] == 0 and data.labels[1] == 1  # label 10 read back as digit 0


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_idx_files(tmp_path, name, folder):
    images = write_idx(tmp_path, folder)
    data = load_images(DataConfig(dataset=name, data_dir=str(tmp_path)), 28, 1)
    assert torch.equal(data.images[:, 0], torch.from_numpy(images))
    rgb = load_images(DataConfig(dataset=name, data_dir=str(tmp_path)), 32, 3)  # resized, channels repeated
    assert rgb.images.shape == (10, 3, 32, 32) and torch.equal(rgb.images[:, 0], rgb.images[:, 2])


@pytest.mark.parametrize("dumps", [python2_dumps, python3_dumps])
def test_cifar_pickle_batches(tmp_path, dumps):
    batches = write_cifar(tmp_path, dumps=dumps)
    assert (tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_1").read_bytes()[:2] == b"\x80\x02"
    data = load_images(DataConfig(dataset="cifar10", data_dir=str(tmp_path)), 32, 3)
    assert data.images.shape == (30, 3, 32, 32) and data.images.dtype == torch.uint8
    first = batches["data_batch_1"]["data"]
    assert torch.equal(data.images[0].flatten(), torch.from_numpy(first[0]))  # CIFAR rows are R, G, B planes
    assert torch.equal(data.images[29].flatten(), torch.from_numpy(batches["data_batch_5"]["data"][-1]))
    assert data.labels.dtype == torch.int64
    assert data.labels.tolist() == [label for i in range(1, 6) for label in batches[f"data_batch_{i}"]["labels"]]
    test = load_images(DataConfig(dataset="cifar10", data_dir=str(tmp_path)), 32, 3, split="test")
    assert torch.equal(test.images.flatten(1), torch.from_numpy(batches["test_batch"]["data"]))


@pytest.mark.parametrize("dumps", [python2_dumps, python3_dumps])
@pytest.mark.parametrize("file", ["data_batch_3", "batches.meta"])
def test_cifar_file_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path, file, dumps):
    write_cifar(tmp_path)
    marker = tmp_path / "code-ran"
    path = tmp_path / "cifar10" / "cifar-10-batches-py" / file
    path.write_bytes(dumps({"data": RunsCode(marker), "labels": [0], "label_names": RunsCode(marker)}))
    with pytest.raises(DatasetUnavailable) as err:
        load_images(DataConfig(dataset="cifar10", data_dir=str(tmp_path)), 32, 3)
    assert not marker.exists()
    message = str(err.value)
    assert f"refused to read {path}" in message and "system" in message and "nothing in the file was run" in message
    assert "download CIFAR-10 again" in message and "street-digits" in message and "\n" not in message


def test_array_unpickler_decodes_bytes_only_as_latin1(tmp_path):
    from dcgan.data.safe_pickle import RefusedPickle, load_arrays

    def encode_call(text: bytes, encoding: bytes) -> bytes:  # _codecs.encode(text, encoding), as protocol 2 spells it
        def unicode(s):
            return b"X" + struct.pack("<I", len(s)) + s

        return b"\x80\x02c_codecs\nencode\n" + unicode(text) + unicode(encoding) + b"\x86R."

    (tmp_path / "latin1").write_bytes(encode_call("\xff".encode(), b"latin1"))  # how Python 3 pickles b"\xff"
    assert load_arrays(tmp_path / "latin1") == b"\xff" == pickle.loads(pickle.dumps(b"\xff", protocol=2))
    (tmp_path / "rot13").write_bytes(encode_call(b"abc", b"rot_13"))
    with pytest.raises(RefusedPickle, match="'rot_13'"):
        load_arrays(tmp_path / "rot13")


def test_cifar_batch_of_the_wrong_shape_says_what_to_do(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(python2_dumps({"data": np.zeros((6, 100), np.uint8), "labels": [0] * 6}))
    with pytest.raises(
        DatasetUnavailable, match="data_batch_2 has no 'data' array.*replace them with the published files"
    ):
        load_images(DataConfig(dataset="cifar10", data_dir=str(tmp_path)), 32, 3)


@pytest.mark.parametrize("dataset, where", [("svhn", "train_32x32.mat"), ("cifar10", "cifar10/cifar-10-batches-py/")])
def test_failed_download_says_where_to_put_files(tmp_path, monkeypatch, dataset, where):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetUnavailable) as err:
        load_images(DataConfig(dataset=dataset, data_dir=str(tmp_path)), 32, 3)
    message = str(err.value)
    assert "could not be downloaded (URLError)" in message
    assert where in message and "street-digits" in message and "\n" not in message


def test_street_digits_deterministic_and_varied():
    a_images, a_labels = render_street_digits(300, seed=5)
    b_images, b_labels = render_street_digits(300, seed=5)
    assert torch.equal(a_images, b_images) and torch.equal(a_labels, b_labels)
    assert not torch.equal(render_street_digits(300, seed=6)[0], a_images)
    assert a_images.shape == (300, 3, 32, 32) and a_images.dtype == torch.uint8
    assert set(a_labels.tolist()) == set(range(10))
    contrast = a_images.float().flatten(1).std(1)
    assert (contrast > 10).float().mean() > 0.95  # a digit stands out of nearly every image
    colourful = (a_images.float().std(1).mean((1, 2)) > 5).float().mean()
    assert colourful > 0.3  # varied colours, not all grey
    gray, _ = render_street_digits(10, seed=5, size=28, channels=1)
    assert gray.shape == (10, 1, 28, 28)


def test_street_digits_cached_after_first_load(data_dir):
    cfg = DataConfig(limit=200)
    first = load_images(cfg, 32, 3)
    cached = list((data_dir / "cache").glob("street-digits-*-200-32px-3ch.npz"))
    assert len(cached) == 1
    assert torch.equal(load_images(cfg, 32, 3).images, first.images)


def test_street_digits_preview_shows_the_sets_first_images_without_drawing_the_set(data_dir):
    cfg = DataConfig(limit=100)
    count, grid = preview(cfg, 16, 3, count=16)
    first = load_images(cfg, 16, 3).images[:16]
    assert count == 100
    assert np.array_equal(np.asarray(grid), np.asarray(image_grid(first)))
    assert preview(DataConfig(), 16, 3, count=4)[0] == 50_000


@pytest.mark.parametrize("gzipped", [False, True])
def test_mnist_needs_only_its_training_files_raw_or_gzipped(tmp_path, gzipped):
    images = write_idx(tmp_path, "MNIST", n=40, prefixes=("train",), gzipped=gzipped)
    cfg = DataConfig(dataset="mnist", data_dir=str(tmp_path))
    ensure_available(cfg)  # no t10k files, maybe only .gz: nothing to download
    assert count_train_images(cfg, 28, 1) == 40
    data = load_images(cfg, 28, 1)
    assert torch.equal(data.images[:, 0], torch.from_numpy(images))


def test_svhn_needs_only_train_32x32_mat(tmp_path):
    write_svhn(tmp_path, n=12)
    cfg = DataConfig(dataset="svhn", data_dir=str(tmp_path))
    ensure_available(cfg)
    assert count_train_images(cfg, 32, 3) == 12
    assert count_train_images(DataConfig(dataset="svhn", data_dir=str(tmp_path), limit=5), 32, 3) == 5


def test_a_run_that_cannot_train_is_refused_before_its_folder_is_made(tmp_path, monkeypatch):
    from dcgan.data.presets import preset_config
    from dcgan.errors import ConfigError
    from dcgan.runs.manage import create_run

    monkeypatch.setenv("DCGAN_RUNS_DIR", str(tmp_path / "runs"))
    write_svhn(tmp_path, n=12)
    with pytest.raises(ConfigError, match="SVHN has 12 training images, fewer than one batch of 128"):
        create_run(preset_config("svhn", data_dir=str(tmp_path), name="small"))
    with pytest.raises(DatasetUnavailable, match="put train-images-idx3-ubyte"):
        create_run(preset_config("mnist", data_dir=str(tmp_path / "nothing-here"), name="absent"))
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_cli_train_starts_from_the_apps_preset_and_flags_override(tmp_path, monkeypatch, capsys):
    import json

    from dcgan.cli import main
    from dcgan.data.presets import DATASET_PRESETS

    monkeypatch.setenv("DCGAN_RUNS_DIR", str(tmp_path / "runs"))
    write_idx(tmp_path, "MNIST", n=64, prefixes=("train",))
    code = main(
        [
            "train",
            "--dataset",
            "mnist",
            "--data-dir",
            str(tmp_path),
            "--name",
            "m",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--score-samples",
            "0",
            "--device",
            "cpu",
        ]
    )
    assert code == 0, capsys.readouterr().err
    config = json.loads((tmp_path / "runs" / "m" / "config.json").read_text())
    preset = DATASET_PRESETS["mnist"]
    assert config["model"]["channels"] == preset["channels"] == 1  # it trained 3-channel images before
    assert config["model"]["g_width"] == preset["g_width"] and config["train"]["lr"] == preset["lr"]
    assert config["train"]["epochs"] == 1 and config["train"]["batch_size"] == 32  # the flags win


def test_batch_norm_lab_reads_mnist_where_training_does_or_says_where_it_goes(tmp_path):
    from dcgan.bnlab.experiment import load_lab_data

    missing = load_lab_data(data_dir=str(tmp_path / "nothing"), limit=600)
    assert missing.name.startswith("street-digits") and "put train-images-idx3-ubyte" in missing.note
    assert str(tmp_path / "nothing" / "MNIST" / "raw") in missing.note
    write_idx(tmp_path, "MNIST", n=600, prefixes=("train",), gzipped=True)
    mnist = load_lab_data(data_dir=str(tmp_path))
    assert mnist.name == "MNIST" and not mnist.note
    assert len(mnist.test_x) == 100 and len(mnist.train_x) + len(mnist.val_x) == 500  # test held out of train


def test_a_folder_with_fewer_usable_images_than_a_batch_is_refused_before_its_run_folder(tmp_path, monkeypatch):
    from dcgan.data.presets import preset_config
    from dcgan.errors import ConfigError
    from dcgan.runs.manage import create_run

    monkeypatch.setenv("DCGAN_RUNS_DIR", str(tmp_path / "runs"))
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (20, 20), (i * 60, 0, 0)).save(folder / f"{i}.png")
    for name in ("broken.png", "text.jpg"):
        (folder / name).write_bytes(b"not a picture")
    cfg = preset_config("folder", folder=str(folder), data_dir=str(tmp_path / "data"), batch_size=4, name="few")
    with pytest.raises(ConfigError, match="has 3 training images, fewer than one batch of 4"):
        create_run(cfg)  # five image files, of which three can be used
    assert not (tmp_path / "runs" / "few").exists()
