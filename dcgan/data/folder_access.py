"""Which image folders the app may read when people on other machines can type folder paths into it.

The Train page reads and previews any folder typed into it. On a server reachable from a network that
is anyone's view of the server's disk, so the person running the server names the folders the app may
read from: DCGAN_FOLDER_ROOTS, separated by os.pathsep like PATH. The page decides when this applies
(ui/folder_field.py); the check itself is here, without Streamlit. The CLI reads any folder, as before.
"""

from __future__ import annotations

import os
from pathlib import Path

from dcgan.errors import FolderNotAllowed

FOLDER_ROOTS_ENV = "DCGAN_FOLDER_ROOTS"
EXAMPLE_ROOT = "/path/to/images"


def folder_roots(setting: str | None = None) -> list[Path]:
    """The allowed roots, from `setting` or else $DCGAN_FOLDER_ROOTS: ~ expanded, `..` and symlinks resolved."""
    setting = os.environ.get(FOLDER_ROOTS_ENV, "") if setting is None else setting
    return [Path(entry.strip()).expanduser().resolve() for entry in setting.split(os.pathsep) if entry.strip()]


def how_to_add_root(roots: list[Path]) -> str:
    """The setting that allows one more root, for messages: DCGAN_FOLDER_ROOTS=/a:/path/to/images."""
    return f"{FOLDER_ROOTS_ENV}={os.pathsep.join([*map(str, roots), EXAMPLE_ROOT])}"


def allowed_folder(folder: str | Path, roots: list[Path]) -> Path:
    """`folder` with ~, `..` and symlinks resolved, if that lies inside one of `roots`; FolderNotAllowed if not.

    Resolving first is what makes the check hold: /allowed/../etc and a symlink in a root that points out
    of it resolve to where they really lead. Callers read the returned path, not the typed one.
    """
    try:
        resolved = Path(folder).expanduser().resolve()
        inside = any(resolved.is_relative_to(Path(root).expanduser().resolve()) for root in roots)
    except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop
        raise FolderNotAllowed(f"image folder {folder} could not be resolved ({err}): give another folder") from None
    if inside:
        return resolved
    if not roots:
        raise FolderNotAllowed(
            f"no image folder may be read here: {FOLDER_ROOTS_ENV} names no folders. To allow "
            f"some, restart the server with {how_to_add_root(roots)}"
        )
    where = folder if Path(folder) == resolved else f"{folder} (which leads to {resolved})"
    raise FolderNotAllowed(
        f"image folder {where} is not inside the allowed folders "
        f"({', '.join(map(str, roots))}): choose one inside them, or restart the server with "
        f"{how_to_add_root(roots)}"
    )
