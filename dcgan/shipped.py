"""The generators shipped in checkpoints/ (torch-free, so the Home page can list them before torch loads)."""
from __future__ import annotations

from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"


def shipped_generators(folder: Path = SHIPPED_DIR) -> list[dict]:
    """Each shipped generator: name, file, sample grid and card (None where missing), smallest file first."""
    found = []
    for path in sorted(folder.glob("*.pt"), key=lambda p: p.stat().st_size):
        png, card = path.with_suffix(".png"), path.with_suffix(".md")
        found.append({"name": path.stem, "path": path, "grid": png if png.exists() else None,
                      "card": card if card.exists() else None})
    return found
