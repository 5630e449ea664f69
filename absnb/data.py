"""MNIST from its four IDX files, with the SHA-256 of the decompressed bytes checked on every load.

Nothing trains or evaluates on unverified data: a file whose digest differs from the canonical one
stops the run, and a missing file is fetched from the public mirrors and checked the same way.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

from absnb.artifacts import atomic_path
from absnb.paths import DATA_DIR

MNIST_DIR = DATA_DIR / "mnist"

# SHA-256 of each file after decompression (the canonical digests of MNIST).
DIGESTS = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataIntegrityError(RuntimeError):
    """A data file is missing, malformed, or does not have its canonical digest."""


def verified_bytes(path: Path, name: str) -> bytes:
    """Decompress `path` and return its bytes, or raise if their SHA-256 is not the canonical one."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as err:
        raise DataIntegrityError(f"{path}: not a readable gzip file ({err})") from err
    digest = hashlib.sha256(raw).hexdigest()
    if digest != DIGESTS[name]:
        raise DataIntegrityError(
            f"{path}: SHA-256 of the decompressed bytes is {digest}, expected {DIGESTS[name]}. "
            "The file is corrupted or is not MNIST; delete it to have it downloaded again."
        )
    return raw


def parse_idx(raw: bytes) -> np.ndarray:
    """Parse the IDX format: two zero bytes, a dtype code, the rank, big-endian sizes, then data."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataIntegrityError("not an IDX file (bad magic number)")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, _IDX_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataIntegrityError(f"IDX header says {shape} but holds {data.size} values")
    return data.reshape(shape)


def download(name: str, dest: Path, mirrors: tuple[str, ...] = MIRRORS) -> None:
    """Fetch `name`.gz from the first mirror that answers with verified bytes; write it atomically."""
    errors = []
    for mirror in mirrors:
        url = f"{mirror}{name}.gz"
        try:
            with atomic_path(dest) as tmp:
                with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                    shutil.copyfileobj(response, out)
                verified_bytes(tmp, name)
            return
        except (OSError, DataIntegrityError) as err:
            errors.append(f"{url}: {err}")
    raise DataIntegrityError(f"could not download {name}.gz:\n  " + "\n  ".join(errors))


def load_file(name: str, root: Path = MNIST_DIR) -> np.ndarray:
    """Return one IDX file as an array, downloading it first if missing; always digest-checked."""
    path = Path(root) / f"{name}.gz"
    if not path.exists():
        download(name, path)
    return parse_idx(verified_bytes(path, name))


def load_split(split: str, root: Path = MNIST_DIR) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float32 in [0, 1] with shape (N, 1, 28, 28), and labels as int64."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {sorted(SPLITS)}")
    images_name, labels_name = SPLITS[split]
    images = load_file(images_name, root)
    labels = load_file(labels_name, root)
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise DataIntegrityError(f"unexpected shapes {images.shape} / {labels.shape} for {split}")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))
