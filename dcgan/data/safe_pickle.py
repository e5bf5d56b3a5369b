"""Reading pickled numpy arrays without running code from the file.

CIFAR-10's python batches are pickles, and a pickle may name any function to call while it loads
(os.system, say): a batch file someone hands you could run anything. Plain pickle.load trusts the
file; this unpickler hands out only the few names a pickled uint8 array needs and refuses the rest
before anything is called. Dicts, lists, strings and numbers need no names, so they load as usual.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

import numpy as np


def _multiarray():
    """numpy's multiarray module: numpy 2 moved numpy.core to numpy._core (files pickled under either name
    refer to its _reconstruct)."""
    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy 1.x
        return importlib.import_module("numpy.core.multiarray")


_reconstruct = _multiarray()._reconstruct

LATIN1 = "latin1"


class RefusedPickle(pickle.UnpicklingError):
    """The pickle names something other than what a numpy array needs; nothing it names was called."""


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """_codecs.encode as Python 3 writes bytes into a protocol-2 pickle, encode(text, "latin1"), and no other codec."""
    if encoding != LATIN1:
        raise RefusedPickle(f"the pickle encodes bytes with {encoding!r}; only {LATIN1!r} is accepted")
    return text.encode(LATIN1)


# (module, name) as the pickle spells it -> the object handed out. Python 2 files (the real CIFAR-10
# batches) name numpy.core.multiarray; numpy 2 writes numpy._core.multiarray.
ARRAY_NAMES = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,
}


class ArrayUnpickler(pickle.Unpickler):
    """A pickle.Unpickler that resolves only ARRAY_NAMES: every other global is refused, never imported."""

    def find_class(self, module: str, name: str):
        try:
            return ARRAY_NAMES[(module, name)]
        except KeyError:
            raise RefusedPickle(
                f"the pickle asks for {module}.{name}, which a pickled numpy array never "
                "needs (nothing in the file was run)"
            ) from None

    def persistent_load(self, pid):  # the base class refuses too; said here so the refusal is ours and clear
        raise RefusedPickle("the pickle refers to a persistent object, which a pickled numpy array never does")


def load_arrays(path: Path, encoding: str = LATIN1):
    """What the pickle at `path` holds, read with ArrayUnpickler. `encoding` decodes Python 2 strings
    (latin1 keeps arrays' raw bytes intact, as numpy expects). RefusedPickle for anything but arrays and
    plain containers."""
    with open(path, "rb") as f:
        return ArrayUnpickler(f, encoding=encoding).load()
