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
    """The generators the runs under `runs_root` have written, newest run first: each run's last (generator.pt,
    named after the run; written when it finishes or is stopped) and its best (best_generator.pt, at its best
    quality score so far; named "RUN · best")."""
    root = Path(runs_root)
    if not root.is_dir():
        return []
    found: list[dict] = []
    for name, suffix in (("generator.pt", ""), ("best_generator.pt", " · best")):
        for path in root.glob(f"*/{name}"):
            found.append({"name": path.parent.name + suffix, "path": path, "grid": None, "card": None})
    newest: dict[Path, float] = {}  # a run's order is that of its newest file, so its last and best stay side by side
    for g in found:
        newest[g["path"].parent] = max(newest.get(g["path"].parent, 0.0), g["path"].stat().st_mtime)
    found.sort(key=lambda g: (-newest[g["path"].parent], g["name"]))
    return found
