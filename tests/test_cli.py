import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from torch import nn

from dcgan.cli import main


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


TINY = [
    "--limit",
    "256",
    "--batch-size",
    "32",
    "--image-size",
    "16",
    "--g-width",
    "8",
    "--d-width",
    "8",
    "--epochs",
    "1",
    "--device",
    "cpu",
]


def test_train_sample_and_runs(capsys, runs_dir, tmp_path):
    from PIL import Image

    from dcgan.runs.checkpoint import load_checkpoint
    from dcgan.runs.generator_file import load_generator

    code, _, err = run_cli(capsys, "train", *TINY, "--name", "cli", "--no-g-batchnorm")
    assert code == 0 and "finished" in err
    config = json.loads((runs_dir / "cli" / "config.json").read_text())["model"]
    assert config["g_batchnorm"] is False and config["d_batchnorm"] is True  # the flag reached the run, only G's
    G, meta = load_generator(runs_dir / "cli" / "generator.pt")
    assert meta["model"]["g_batchnorm"] is False and G.cfg.g_batchnorm is False
    assert not any(isinstance(m, nn.BatchNorm2d) for m in G.modules())  # the trained generator has none
    checkpoint = load_checkpoint(runs_dir / "cli" / "checkpoint.pt")
    assert not any("running_mean" in k for k in checkpoint["generator"])
    assert any("running_mean" in k for k in checkpoint["discriminator"])
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0 and "cli" in out and "finished" in out
    grid = tmp_path / "grid.png"
    code, out, _ = run_cli(capsys, "sample", str(runs_dir / "cli" / "generator.pt"), "-n", "9", "-o", str(grid))
    assert code == 0 and Image.open(grid).size == (56, 56)  # 3 x 3 images of 16 px, 2 px apart and around
    code, _, err = run_cli(capsys, "resume", "cli")  # already finished: nothing more to do, still fine
    assert code == 0 and "finished" in err


def write_foreign(path):
    torch.save({"weights": torch.zeros(3)}, path)
    return str(path)


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--dataset", "imagenet"], "unknown dataset"),
        (["train", "--image-size", "48"], "power of two"),
        (["train", "--lr", "-1"], "learning rate must be positive"),
        (["train", "--epochs", "many"], "expects a whole number"),
        (["train", "--bogus"], "unrecognized arguments: --bogus (see python -m dcgan train --help)"),
        (["latent", "map", "g.pt", "--bogus"], "(see python -m dcgan latent map --help)"),
        (["latent", "map"], "required: generator (see python -m dcgan latent map --help)"),
        (["train", "--dataset", "folder", "--folder", "/no/such/folder"], "does not exist"),
        (["resume", "no-such-run"], "no run folder"),
        (["train", "--dataset", "svhn", "--data-dir", "/nonexistent-offline"], "could not be downloaded"),
        (["sample", "/no/such/generator.pt"], "does not exist"),
        (["bn-lab", "pair", "--lr", "0"], "learning rate must be positive"),
        (["bn-lab", "pair", "--iterations", "0"], "iterations must be at least 1"),
        (["bn-lab", "table", "--device", "cuda" if not torch.cuda.is_available() else "tpu"], "not available"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, runs_dir, args, message, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())  # no half-made run folder left behind


@pytest.mark.slow  # trains the lab's pair and all 15 table rows
def test_bn_lab_pair_and_table_from_the_terminal(capsys, runs_dir):
    code, out, err = run_cli(capsys, "bn-lab", "pair", "--iterations", "300", "--eval-every", "100", "--limit", "3000")
    assert code == 0, err
    without, with_bn = (float(line.split(": ")[1]) for line in out.splitlines() if line.startswith("test accuracy"))
    assert with_bn > without + 0.1  # the lesson's first comparison, as on the page
    code, out, err = run_cli(capsys, "bn-lab", "table", "--iterations", "20", "--limit", "3000")
    assert code == 0, err
    rows = [line for line in out.splitlines() if " its " in line]
    assert len(rows) == 15 and all(line.split("|")[1].split()[0] == "20" for line in rows)
    assert "street-digits" in err and "bn-lab [" in err  # where the data came from, and a progress bar
    assert (runs_dir / ".bn-lab" / "pair.json").is_file()  # kept for the app, in the runs folder it was given


def test_corrupt_and_foreign_checkpoints(capsys, tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    code, _, err = run_cli(capsys, "sample", str(corrupt))
    assert code == 2 and "not a readable PyTorch file" in err
    code, _, err = run_cli(capsys, "sample", write_foreign(tmp_path / "foreign.pt"))
    assert code == 2 and "not a generator of DCGAN Studio" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(capsys, runs_dir):
    code, _, err = run_cli(capsys, "train", "--device", "cuda")
    assert code == 2 and "not available on this machine" in err and not runs_dir.exists()


@pytest.mark.slow  # a fresh Python that imports torch (the same refusals are checked in-process above)
def test_real_entry_point_prints_no_traceback(runs_dir):
    result = subprocess.run(
        [sys.executable, "-m", "dcgan", "train", "--image-size", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dcgan: error: image size 20 is not supported: use a power of two from 16 to 128 (32 or 64 usually)"
    ]
