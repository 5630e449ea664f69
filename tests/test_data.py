"""MNIST loading: shapes and ranges, digest checks, the downloader, and the IDX parser."""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import struct
import urllib.request

import numpy as np
import pytest
import torch

from absnb import data

LABELS = "t10k-labels-idx1-ubyte"
MNIST_TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def test_split() -> tuple[torch.Tensor, torch.Tensor]:
    return data.load_split("test")


def test_test_split_shapes_dtypes_and_ranges(test_split):
    x, y = test_split
    assert x.shape == (10000, 1, 28, 28)
    assert x.dtype == torch.float32
    assert y.shape == (10000,)
    assert y.dtype == torch.int64
    assert x.min().item() == 0.0 and x.max().item() == 1.0
    assert set(y.unique().tolist()) == set(range(10))


def test_test_split_has_the_canonical_class_counts(test_split):
    _, y = test_split
    assert torch.bincount(y, minlength=10).tolist() == MNIST_TEST_CLASS_COUNTS


def test_images_are_the_raw_bytes_divided_by_255(test_split):
    x, _ = test_split
    raw = data.load_file("t10k-images-idx3-ubyte")
    assert raw.shape == (10000, 28, 28) and raw.dtype == np.uint8
    np.testing.assert_array_equal(x[:50, 0].numpy(), raw[:50].astype(np.float32) / 255.0)


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="valid"):
        data.load_split("validation")


def _real_labels_raw() -> bytes:
    return gzip.decompress((data.MNIST_DIR / f"{LABELS}.gz").read_bytes())


def test_corrupted_copy_is_refused_naming_path_and_both_digests(tmp_path):
    raw = bytearray(_real_labels_raw())
    raw[100] ^= 0x01  # one label byte changes; still a valid gzip and a valid IDX file
    path = tmp_path / f"{LABELS}.gz"
    path.write_bytes(gzip.compress(bytes(raw)))
    actual = hashlib.sha256(bytes(raw)).hexdigest()
    with pytest.raises(data.DataIntegrityError) as info:
        data.load_file(LABELS, root=tmp_path)
    message = str(info.value)
    assert str(path) in message
    assert actual in message
    assert data.DIGESTS[LABELS] in message
    assert actual != data.DIGESTS[LABELS]


def test_uncorrupted_copy_in_another_root_loads(tmp_path):
    shutil.copy(data.MNIST_DIR / f"{LABELS}.gz", tmp_path)
    labels = data.load_file(LABELS, root=tmp_path)
    assert labels.shape == (10000,)
    assert np.bincount(labels).tolist() == MNIST_TEST_CLASS_COUNTS


def test_non_gzip_file_is_refused(tmp_path):
    (tmp_path / f"{LABELS}.gz").write_bytes(_real_labels_raw())  # the right bytes, but not gzipped
    with pytest.raises(data.DataIntegrityError, match="gzip"):
        data.load_file(LABELS, root=tmp_path)


def test_gzip_with_a_corrupted_compressed_stream_is_refused(tmp_path):
    """Flipping byte 32 of the real .gz breaks the deflate stream itself (not only the CRC)."""
    gz = bytearray((data.MNIST_DIR / f"{LABELS}.gz").read_bytes())
    gz[32] ^= 0xFF
    (tmp_path / f"{LABELS}.gz").write_bytes(bytes(gz))
    with pytest.raises(data.DataIntegrityError):
        data.load_file(LABELS, root=tmp_path)


class _FakeResponse(io.BytesIO):
    """What urlopen returns: a readable binary stream usable as a context manager."""


def _serve(monkeypatch, routes: dict[str, bytes | Exception]) -> list[str]:
    """Patch urlopen as absnb.data uses it; return the list of URLs requested."""
    requested: list[str] = []

    def fake_urlopen(url, timeout=None):
        requested.append(url)
        answer = routes.get(url, OSError(f"no route to {url}"))
        if isinstance(answer, Exception):
            raise answer
        return _FakeResponse(answer)

    assert data.urllib.request is urllib.request
    monkeypatch.setattr(data.urllib.request, "urlopen", fake_urlopen)
    return requested


def test_missing_file_is_downloaded_from_the_first_mirror_that_works(tmp_path, monkeypatch):
    real_gz = (data.MNIST_DIR / f"{LABELS}.gz").read_bytes()
    bad_url = f"{data.MIRRORS[0]}{LABELS}.gz"
    good_url = f"{data.MIRRORS[1]}{LABELS}.gz"
    requested = _serve(monkeypatch, {bad_url: OSError("connection refused"), good_url: real_gz})
    labels = data.load_file(LABELS, root=tmp_path)
    assert requested == [bad_url, good_url]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{LABELS}.gz"]
    assert (tmp_path / f"{LABELS}.gz").read_bytes() == real_gz
    np.testing.assert_array_equal(labels, data.load_file(LABELS))


def test_mirror_serving_wrong_bytes_is_rejected_and_leaves_no_file(tmp_path, monkeypatch):
    """A valid gzip of other content fails the digest; every mirror fails; nothing is left behind."""
    wrong = gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes([1, 2, 3]))
    urls = [f"{m}{LABELS}.gz" for m in data.MIRRORS]
    requested = _serve(monkeypatch, {urls[0]: wrong, urls[1]: wrong})
    with pytest.raises(data.DataIntegrityError) as info:
        data.load_file(LABELS, root=tmp_path)
    assert requested == urls
    for url in urls:
        assert url in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_parse_idx_reads_a_hand_made_vector():
    raw = struct.pack(">I", 0x00000801) + struct.pack(">I", 3) + bytes([7, 0, 255])
    out = data.parse_idx(raw)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [7, 0, 255])


def test_parse_idx_reads_a_hand_made_matrix_of_big_endian_ints():
    values = (np.arange(6).reshape(2, 3) - 2).astype(">i4")
    raw = struct.pack(">I", 0x00000C02) + struct.pack(">II", 2, 3) + values.tobytes()
    np.testing.assert_array_equal(data.parse_idx(raw), values)


@pytest.mark.parametrize("magic", [0x01000801, 0x00000701, 0x00000F01])
def test_parse_idx_rejects_a_bad_magic_number(magic):
    raw = struct.pack(">I", magic) + struct.pack(">I", 3) + bytes([1, 2, 3])
    with pytest.raises(data.DataIntegrityError, match="magic"):
        data.parse_idx(raw)


def test_parse_idx_rejects_a_size_mismatch():
    raw = struct.pack(">I", 0x00000801) + struct.pack(">I", 4) + bytes([1, 2, 3])
    with pytest.raises(data.DataIntegrityError):
        data.parse_idx(raw)


def test_digests_match_the_shipped_sha256sums_file():
    """The digests in the code are the ones data/mnist/SHA256SUMS documents."""
    listed = {}
    for line in (data.MNIST_DIR / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            listed[name] = digest
    assert listed == data.DIGESTS


def test_mirror_serving_a_corrupt_gzip_falls_back_to_the_next_mirror(tmp_path, monkeypatch):
    real_gz = (data.MNIST_DIR / f"{LABELS}.gz").read_bytes()
    corrupt = bytearray(real_gz)
    corrupt[32] ^= 0xFF  # breaks the deflate stream itself
    urls = [f"{m}{LABELS}.gz" for m in data.MIRRORS]
    requested = _serve(monkeypatch, {urls[0]: bytes(corrupt), urls[1]: real_gz})
    labels = data.load_file(LABELS, root=tmp_path)
    assert requested == urls[:2]
    assert np.bincount(labels).tolist() == MNIST_TEST_CLASS_COUNTS
