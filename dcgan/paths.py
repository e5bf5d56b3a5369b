"""Where runs, data and the shipped generators live: one rule for the app and the CLI alike.

  runs        $DCGAN_RUNS_DIR, else runs/ in the folder the command was started from
  data        $DCGAN_DATA_DIR, else data/ in that folder (downloads, drawn sets, scoring classifiers)
  generators  $DCGAN_CHECKPOINTS_DIR, else the repository's checkpoints/ (a checkout or `pip install -e .`)

The README starts the app from the repository's root, so there runs/ and data/ are the repository's; a
`dcgan train` typed in /tmp writes /tmp/runs. Paths are made absolute at once, so a background trainer
started from another folder still writes where its parent said.
"""

from __future__ import annotations

import os
from pathlib import Path

RUNS_DIR_ENV = "DCGAN_RUNS_DIR"
DATA_DIR_ENV = "DCGAN_DATA_DIR"
CHECKPOINTS_DIR_ENV = "DCGAN_CHECKPOINTS_DIR"
# dcgan/paths.py -> the checkout holding dcgan/; only meaningful when the package runs from a checkout.
REPOSITORY = Path(__file__).resolve().parent.parent


def runs_root(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(RUNS_DIR_ENV) or "runs").absolute()


def data_root(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(DATA_DIR_ENV) or "data").absolute()


def shipped_checkpoints() -> Path:
    return Path(os.environ.get(CHECKPOINTS_DIR_ENV) or REPOSITORY / "checkpoints").absolute()


# Files shipped inside the package (package data): the glyph bank, the street-digits classifier, the lesson's table.
ASSETS = Path(__file__).resolve().parent / "assets"
