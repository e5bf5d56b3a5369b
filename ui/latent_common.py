"""What every tab of the latent explorer shares: the loaded generator (Explorer) with what it computes once,
the page-wide drawing settings (truncation ψ, batch-norm statistics), and small widgets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st
import torch

from dcgan.images import image_grid, upscale
from dcgan.latent.batchnorm_modes import generate_in_mode, has_batchnorm, recalibrated_copy
from dcgan.latent.class_directions import ClassDirectionConfig, ClassDirections, fit_class_directions
from dcgan.latent.directions import DirectionSet, pca_set, sefa_directions
from dcgan.latent.explore import ExplorerConfig, PrincipalDirections, principal_directions
from dcgan.latent.real_images import classifier_of_generator, real_images_of
from dcgan.latent.truncation import truncate
from dcgan.progress import format_duration

DISPLAY_PX = 256  # a single sample is enlarged (nearest neighbour) to about this many pixels
SECTION_KEY = "lat-tab"  # the open tab: set in a callback to send the person to another tab
PSI_KEY = "lat-psi"  # truncation ψ, page-wide
BN_MODE_KEY = "lat-bn-mode"  # which batch-norm statistics draw, page-wide
MATES_KEY = "lat-bn-mates"  # the seed of the batch-mates in train mode


@dataclass
class Explorer:
    """A loaded generator and what the tabs compute once for it (held by st.cache_resource)."""

    G: torch.nn.Module
    meta: dict
    note: str | None
    key: str  # identifies the generator in caches: "path@mtime" for files, the upload's id otherwise
    config: ExplorerConfig = field(default_factory=ExplorerConfig)
    file_bytes_digest: str = ""  # of the generator's file: where its saved directions are kept
    _directions: PrincipalDirections | None = None
    _sefa: DirectionSet | None = None
    _recalibrated: torch.nn.Module | None = None
    _classifier: object = None  # ScoringClassifier, or the reason there is none (str)
    _class_directions: ClassDirections | None = None

    @property
    def z_dim(self) -> int:
        return self.G.cfg.z_dim

    @property
    def path(self) -> Path | None:
        """The generator's file, or None for an upload."""
        return Path(self.key.rsplit("@", 1)[0]) if "@" in self.key else None

    def directions(self) -> PrincipalDirections:
        if self._directions is None:
            self._directions = principal_directions(self.G, self.config)
        return self._directions

    def family(self, name: str) -> DirectionSet:
        """The PCA (GANSpace) or SeFa directions in the common form."""
        if name == "SeFa":
            if self._sefa is None:
                self._sefa = sefa_directions(self.G, self.config.pca_components)
            return self._sefa
        return pca_set(self.directions())

    def recalibrated(self) -> torch.nn.Module:
        if self._recalibrated is None:
            self._recalibrated = recalibrated_copy(self.G, self.config)
        return self._recalibrated

    def classifier(self):
        """(ScoringClassifier, None) for a generator of a labelled dataset whose own classifier exists, else
        (None, why not, in the page's words)."""
        if self._classifier is None:
            self._classifier = classifier_of_generator(self.meta)
        found = self._classifier
        return (None, found) if isinstance(found, str) else (found, None)

    def class_directions(self, progress=None) -> ClassDirections:
        if self._class_directions is None:
            classifier, _ = self.classifier()
            self._class_directions = fit_class_directions(self.G, classifier.model, ClassDirectionConfig(), progress)
        return self._class_directions

    def has_class_directions(self) -> bool:
        return self._class_directions is not None

    def draw(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [-1, 1] for z, with the page's truncation ψ and batch-norm statistics."""
        psi = float(st.session_state.get(PSI_KEY, 1.0))
        mode = st.session_state.get(BN_MODE_KEY, "running") if has_batchnorm(self.G) else "running"
        recalibrated = self.recalibrated() if mode == "recomputed" else None
        mates = int(st.session_state.get(MATES_KEY) or 0)
        return generate_in_mode(self.G, truncate(z, psi), mode, mates, recalibrated)

    def image(self, z: torch.Tensor, columns: int | None = None):
        """A PIL image of the samples for z (B, z_dim), enlarged for the screen."""
        scale = max(1, DISPLAY_PX // self.G.cfg.image_size) if len(z) == 1 else 2
        return image_grid(upscale(self.draw(z), scale), columns=columns)


def download(label: str, data: bytes, name: str, mime: str, key: str) -> None:
    st.download_button(label, data, file_name=name, mime=mime, key=key)


def set_base(z: torch.Tensor, label: str) -> None:
    """Make `z` the sample the sliders start from (new slider keys, so they take its values)."""
    st.session_state["lat-base"] = (z.clone(), label)
    st.session_state["lat-version"] = st.session_state.get("lat-version", 0) + 1


def load_into_sliders(z: torch.Tensor, label: str) -> None:
    """A callback: the sliders start from `z`, the seed box empties (its placeholder names what is loaded, and a
    seed typed there starts a new sample again), and the Sliders tab opens."""
    set_base(z, label)
    st.session_state["lat-base-seed"] = None
    st.session_state["lat-seed"] = None
    st.session_state[SECTION_KEY] = "Sliders"


def progress_callback(bar, what: str):
    """A progress(done, total) callback that fills `bar` with `what`, the count and an ETA."""
    start = time.perf_counter()

    def update(done: int, total: int) -> None:
        elapsed = time.perf_counter() - start
        eta = elapsed / done * (total - done) if done else None
        bar.progress(done / total, text=f"{what}… {done:,} of {total:,} · ETA {format_duration(eta)}")

    return update


def real_images_for(explorer: Explorer, train_limit: int, test_limit: int = 1):
    """The explorer's generator's training images (the first `train_limit`) and held-out ones (real_images.py)."""
    cfg = explorer.G.cfg
    return real_images_of(explorer.meta, explorer.path, cfg.image_size, cfg.channels, train_limit, test_limit)
