"""Where generators can be found: shipped in checkpoints/, and each run's generator.pt.

Torch-free, so the Home page can list them before torch has loaded.
"""

from __future__ import annotations

from pathlib import Path

from dcgan.paths import shipped_checkpoints


def shipped_generators(folder: Path | None = None) -> list[dict]:
    """Each shipped generator: name, file, sample grid and card (None where missing), smallest file first."""
    folder = shipped_checkpoints() if folder is None else folder
    found = []
    for path in sorted(folder.glob("*.pt"), key=lambda p: p.stat().st_size):
        png, card = path.with_suffix(".png"), path.with_suffix(".md")
        found.append(
            {
                "name": path.stem,
                "path": path,
                "grid": png if png.exists() else None,
                "card": card if card.exists() else None,
            }
        )
    return found


def run_generators(runs_root: Path) -> list[dict]:
    """The runs under `runs_root` that have exported a generator (finished or stopped), newest first."""
    paths = [p for p in Path(runs_root).glob("*/generator.pt")] if Path(runs_root).is_dir() else []
    paths.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [{"name": p.parent.name, "path": p, "grid": None, "card": None} for p in paths]
