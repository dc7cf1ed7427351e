"""Hostile dataset files, built here from a few hundred bytes to a megabyte, and a child process that loads
one under a capped address space and reports its peak memory. Used by tests/test_untrusted_files.py.

Each builder returns the file's bytes. Every one asks the old loaders for 0.2 GB to 1 TB; none declares an
array the loader should keep, so the budget for each is the fixed overhead alone.
"""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20


def gzip_member(deflate: bytes) -> bytes:
    """A gzip member around raw deflate data; CRC and length left zero, as a loader must stop before them."""
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + deflate + bytes(8)


def deflate_then_zeros(prefix: bytes, zeros_mib: int) -> bytes:
    """Raw deflate of `prefix` followed by `zeros_mib` MiB of zeros, without compressing a GiB here.

    After a full flush a deflate stream is byte-aligned and refers to nothing before it, so the
    compressed form of one zero MiB can be repeated; about 1 kB per MiB inflated.
    """
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = zeros.compress(bytes(MIB)) + zeros.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    return head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH) + block * zeros_mib + final


def idx_header(magic: int, *dims: int) -> bytes:
    """An IDX header: the magic number and one big-endian uint32 per dimension."""
    return b"".join(v.to_bytes(4, "big") for v in (magic, *dims))


class _ZeroStrides:
    """Pickles as a direct call of numpy.ndarray: a huge shape viewed through zero strides over one byte."""

    def __init__(self, shape: tuple[int, ...], dtype: str) -> None:
        self.shape, self.dtype = shape, dtype

    def __reduce__(self) -> tuple[object, ...]:
        return np.ndarray, (self.shape, np.dtype(self.dtype), b"\0" * 8, 0, (0,) * len(self.shape))


def cifar_zero_strides() -> bytes:
    """A 300-byte batch whose 'data' is 300,000 rows (920 MB) once `np.ascontiguousarray` copies it."""
    rows = 300_000
    batch = {"data": _ZeroStrides((rows, 3072), "u1"), "labels": _ZeroStrides((rows,), "i8")}
    return pickle.dumps(batch, protocol=2)


def pickle_huge_length() -> bytes:
    """Protocol 4's BINBYTES8 declaring a terabyte: CPython's unpickler allocates it before reading."""
    return b"\x80\x04\x8e" + (1 << 40).to_bytes(8, "little") + bytes(64) + b"."


def pickle_sparse_memo() -> bytes:
    """LONG_BINPUT into slot 2**31 - 1: CPython's unpickler grows its memo array to twice the index."""
    return b"\x80\x02]r" + (2**31 - 1).to_bytes(4, "little") + b"."


def pickle_codec_chain(doublings: int = 20) -> bytes:
    """`_codecs.encode(..., 'hex')` applied 20 times to 1 kB: 1 GiB, from a 200-byte file."""

    def text(s: str) -> bytes:
        return b"X" + len(s).to_bytes(4, "little") + s.encode()

    calls = b"\x80\x02c_codecs\nencode\nq\x00" + b"h\x00" * doublings
    inner = b"h\x00" + text("a" * 1024) + text("latin1") + b"\x86R"
    return calls + inner + (text("hex") + b"\x86R") * doublings + b"."


def idx_gzip_bomb() -> bytes:
    """An IDX header for ten 28x28 images, then a GiB of zeros: 1 MB on disk."""
    return gzip_member(deflate_then_zeros(idx_header(2051, 10, 28, 28), 1024))


def idx_gzip_huge_header() -> bytes:
    """A 60-byte gzip whose IDX header declares 900,000 images (706 MB)."""
    return gzip_member(deflate_then_zeros(idx_header(2051, 900_000, 28, 28), 0))


def npy(shape: tuple[int, ...], data: bytes, descr: str = "|u1") -> bytes:
    """A version 1.0 .npy member with any header, padded as numpy pads it."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


def npz(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """A zip of the given members, as np.savez writes one."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def npz_huge_shape() -> bytes:
    """An npz whose x_train.npy header declares a terabyte; np.load allocates it before reading."""
    small = {f"{k}.npy": npy((1,), b"\0") for k in ("y_train", "x_test", "y_test")}
    return npz({"x_train.npy": npy((10**12,), bytes(64)), **small})


def _tar_header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    """One 512-byte header block; GNU format so sizes past 8 GiB can be written at all."""
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(format=tarfile.GNU_FORMAT)


def tar_huge_pax() -> bytes:
    """A tar.gz whose first header is a pax header of 8 GiB: tarfile reads it in one call."""
    raw = _tar_header("././@PaxHeader", 8 << 30, tarfile.XHDTYPE) + b"20 path=data_batch_1\n" + bytes(491)
    return gzip_member(deflate_then_zeros(raw, 0))


def tar_gzip_bomb() -> bytes:
    """A tar.gz whose data_batch_1 member is a GiB of zeros: 1 MB on disk."""
    return gzip_member(deflate_then_zeros(_tar_header("cifar-10-batches-py/data_batch_1", 1 << 30), 1024))


# name -> (file name to write, data_formats call that loads it, builder). The CIFAR folder loader reads
# data_batch_1 first; `placeholders` puts empty files under the other names so it gets that far.
HOSTILE = {
    "cifar-zero-strides": ("data_batch_1", "load_cifar_folder(folder)", cifar_zero_strides),
    "pickle-terabyte-bytes8": ("data_batch_1", "load_cifar_folder(folder)", pickle_huge_length),
    "pickle-sparse-memo": ("data_batch_1", "load_cifar_folder(folder)", pickle_sparse_memo),
    "pickle-hex-codec-chain": ("data_batch_1", "load_cifar_folder(folder)", pickle_codec_chain),
    "idx-gzip-bomb": ("train-images-idx3-ubyte.gz", "read_idx(path, 2051)", idx_gzip_bomb),
    "idx-gzip-huge-header": ("train-images-idx3-ubyte.gz", "read_idx(path, 2051)", idx_gzip_huge_header),
    "npz-terabyte-shape": ("mnist.npz", "load_mnist_npz(path)", npz_huge_shape),
    "tar-8gib-pax-header": ("cifar-10-python.tar.gz", "load_cifar_tar(path)", tar_huge_pax),
    "tar-gzip-bomb-member": ("cifar-10-python.tar.gz", "load_cifar_tar(path)", tar_gzip_bomb),
}

# Runs in a fresh interpreter. lab_utils/__init__ imports Keras, so the package is stubbed and only its
# format modules load: the baseline is Python + numpy. VmHWM (the kernel's peak-RSS counter, the one
# ru_maxrss reports) is reset through /proc/self/clear_refs just before loading, because ru_maxrss of a
# child started by vfork also carries its parent's peak.
CIFAR_NAMES = ("data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


def write_hostile(name: str, folder: Path) -> Path:
    """Write hostile file `name` into `folder` (with empty CIFAR placeholders beside a batch); return its path."""
    fname, _, build = HOSTILE[name]
    path = folder / fname
    path.write_bytes(build())
    if fname == "data_batch_1":
        for other in CIFAR_NAMES:
            (folder / other).write_bytes(b"")
    return path


_CHILD = r"""
import json, resource, sys, types
root, call, path, cap = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
pkg = types.ModuleType("lab_utils"); pkg.__path__ = [root + "/lab_utils"]; sys.modules["lab_utils"] = pkg
from pathlib import Path
import numpy
from lab_utils.data.formats import *
from lab_utils.errors import DatasetError

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

path = Path(path); folder = path.parent
limit = status("VmSize") + cap
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
try:
    result = eval(call)
    outcome = "loaded"
except DatasetError as exc:
    outcome = "DatasetError: " + str(exc)
except BaseException as exc:
    outcome = type(exc).__name__ + ": " + str(exc)[:300]
print(json.dumps({"outcome": outcome, "peak": status("VmHWM") - before}))
"""


def load_in_child(call: str, path: Path, address_space: int) -> dict[str, object]:
    """Run `call` (e.g. "read_idx(path, 2051)") on `path` in a child whose address space may grow by at most
    `address_space` bytes; return {"outcome": ..., "peak": peak RSS growth in bytes}."""
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), call, str(path), str(address_space)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])
