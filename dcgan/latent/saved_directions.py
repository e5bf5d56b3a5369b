"""Named directions saved with a generator, as JSON a person can read, and read back checked.

Where they live (directions_file):
  - a run's generator (runs/<run>/generator.pt): beside it, runs/<run>/directions.json;
  - any other generator (the shipped, read-only checkpoints/, an upload): the runs folder's
    .latent-directions/<file stem>-<digest of the file's bytes>.json, so two different files of the same
    name never share directions, and the checkout stays untouched.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from dcgan.fileio import atomic_write_json

DIRECTIONS_FORMAT = "dcgan-studio-directions"
DIRECTIONS_VERSION = 1
BESIDE_RUN_NAME = "directions.json"
STORE_FOLDER = ".latent-directions"  # under the runs folder, for generators outside it
MAX_NAME_CHARS = 60
MAX_DIRECTIONS = 200  # per generator: a file with more is not one we wrote
DIGEST_CHARS = 12


class DirectionsFileError(ValueError):
    """A directions file that cannot be used, or a direction that cannot be saved: says which and what to do."""


@dataclass
class SavedDirection:
    name: str  # what the person called it, e.g. "thicker strokes"
    vector: torch.Tensor  # (z_dim,) unit
    family: str  # where it came from, e.g. "SeFa (closed form) 2"


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]


def directions_file(generator_path: Path | None, stem: str, digest: str, runs_root: Path) -> Path:
    """Where a generator's saved directions go (see the module's docstring)."""
    runs_root = Path(runs_root).resolve()
    if generator_path is not None:
        path = Path(generator_path).resolve()
        if path.parent.parent == runs_root:  # runs/<run>/generator.pt: the run's own folder
            return path.with_name(BESIDE_RUN_NAME)
    safe_stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)[:40] or "generator"
    return runs_root / STORE_FOLDER / f"{safe_stem}-{digest}.json"


def check_name(name: str, taken: list[str]) -> str:
    name = name.strip()
    if not name:
        raise DirectionsFileError("Give the direction a name first.")
    if len(name) > MAX_NAME_CHARS:
        raise DirectionsFileError(f"A direction's name may have at most {MAX_NAME_CHARS} characters.")
    if name in taken:
        raise DirectionsFileError(f"A direction called {name!r} is already saved: pick another name or delete it.")
    return name


def load_directions(path: Path, z_dim: int) -> list[SavedDirection]:
    """The directions saved in `path` ([] when there is none yet). DirectionsFileError naming the file and what
    is wrong when it is not a directions file of ours, or holds a direction of another z size or non-numbers."""
    path = Path(path)
    if not path.exists():
        return []
    fix = f"move {path} away (or delete it) and save the directions again"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DirectionsFileError(f"{path} cannot be read as JSON ({type(err).__name__}): {fix}") from None
    if not isinstance(data, dict) or data.get("format") != DIRECTIONS_FORMAT:
        raise DirectionsFileError(f"{path} is not a saved-directions file of DCGAN Studio: {fix}")
    if data.get("version") != DIRECTIONS_VERSION:
        raise DirectionsFileError(f"{path} is version {data.get('version')!r}, not {DIRECTIONS_VERSION}: {fix}")
    entries = data.get("directions")
    if not isinstance(entries, list) or len(entries) > MAX_DIRECTIONS:
        raise DirectionsFileError(f"{path} has no list of at most {MAX_DIRECTIONS} directions: {fix}")
    found = []
    for i, entry in enumerate(entries):
        where = f"{path}, direction {i + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise DirectionsFileError(f"{where} has no name: {fix}")
        vector = entry.get("vector")
        if not isinstance(vector, list) or len(vector) != z_dim:
            size = len(vector) if isinstance(vector, list) else "no"
            raise DirectionsFileError(
                f"{where} ({entry['name']!r}) has {size} numbers, but this generator's z has {z_dim}: {fix}"
            )
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vector):
            raise DirectionsFileError(f"{where} ({entry['name']!r}) holds a value that is not a finite number: {fix}")
        tensor = torch.tensor(vector, dtype=torch.float32)
        if tensor.norm() < 1e-6:
            raise DirectionsFileError(f"{where} ({entry['name']!r}) is all zeros, which points nowhere: {fix}")
        found.append(
            SavedDirection(entry["name"][:MAX_NAME_CHARS], tensor / tensor.norm(), str(entry.get("family", "")))
        )
    return found


def write_directions(path: Path, directions: list[SavedDirection], generator: str) -> None:
    """Write all of a generator's directions at once, atomically (a reader never sees half a file)."""
    atomic_write_json(
        path,
        {
            "format": DIRECTIONS_FORMAT,
            "version": DIRECTIONS_VERSION,
            "generator": generator,  # what the file was saved for, for a person reading it
            "directions": [
                {"name": d.name, "family": d.family, "vector": [round(v, 6) for v in d.vector.tolist()]}
                for d in directions
            ],
        },
    )


def save_direction(path: Path, name: str, vector: torch.Tensor, family: str, generator: str) -> list[SavedDirection]:
    """Add one named direction to the file (made if absent); returns them all. DirectionsFileError for a
    missing or taken name, a zero vector, or an unreadable existing file (which is never overwritten)."""
    existing = load_directions(path, vector.numel())
    name = check_name(name, [d.name for d in existing])
    vector = vector.detach().float().cpu().reshape(-1)
    if not torch.isfinite(vector).all() or vector.norm() < 1e-6:
        raise DirectionsFileError("That direction is zero or not finite: move a slider first.")
    updated = existing + [SavedDirection(name, vector / vector.norm(), family)]
    write_directions(path, updated, generator)
    return updated


def delete_direction(path: Path, name: str, z_dim: int, generator: str) -> list[SavedDirection]:
    kept = [d for d in load_directions(path, z_dim) if d.name != name]
    write_directions(path, kept, generator)
    return kept
