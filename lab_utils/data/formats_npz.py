"""Keras's `mnist.npz`: a zip of `.npy` members, read without pickle and without trusting any size in it.

`np.load` allocates the shape a member's header declares before reading its data, so a few bytes can ask
for a terabyte. Here each member's header is read on its own (bounded), its size checked against the
member's size in the zip directory and the bytes that member can hold on disk, and only then allocated.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from lab_utils.data.bounded_read import (
    MAX_ROWS,
    REDOWNLOAD,
    check_declared,
    expect_end,
    file_size,
    read_array,
    read_up_to,
    reading,
)
from lab_utils.errors import DatasetError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# mnist.npz holds four members; a zip directory much larger than that is not it. Capped because zipfile
# builds a ZipInfo object (about ten times an entry's 46 bytes) for every entry before we could look.
MAX_ZIP_DIRECTORY = 1 << 16
MAX_NPY_HEADER = 10_000  # numpy's own limit for a trusted header
_EOCD, _ZIP64_LOCATOR = b"PK\x05\x06", b"PK\x06\x07"


def _directory_size(handle: BinaryIO, size: int) -> int:
    """The central directory's size as zipfile will read it (zip64 record included), before zipfile reads it."""
    tail_len = min(size, 22 + 0xFFFF)
    handle.seek(size - tail_len)
    tail = handle.read(tail_len)
    at = tail.rfind(_EOCD)
    if at < 0:
        return 0  # not a zip: zipfile says so
    directory = int.from_bytes(tail[at + 12 : at + 16], "little")
    if at >= 20 and tail[at - 20 : at - 16] == _ZIP64_LOCATOR:
        handle.seek(min(int.from_bytes(tail[at - 12 : at - 4], "little"), size))
        record = handle.read(56)
        directory = max(directory, int.from_bytes(record[40:48], "little") if len(record) == 56 else 0)
    handle.seek(0)
    return directory


def _member_info(archive: zipfile.ZipFile, key: str, size: int, path: Path) -> zipfile.ZipInfo:
    """The member `key`.npy, refused if its sizes cannot be true for this file."""
    names = archive.namelist()
    if names.count(f"{key}.npy") != 1:
        raise DatasetError(
            f"{path} has {names.count(f'{key}.npy')} members named {key}.npy (keys x_train y_train x_test y_test, "
            f"one each): {REDOWNLOAD}"
        )
    info = archive.getinfo(f"{key}.npy")
    if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise DatasetError(f"{path}: {key}.npy is encrypted or compressed in a way numpy never writes: {REDOWNLOAD}")
    check_declared(path, info.compress_size, size, f"the member {key}.npy", compressed=False)
    stored = info.compress_type == zipfile.ZIP_STORED
    if stored and info.compress_size != info.file_size:
        raise DatasetError(f"{path}: {key}.npy is stored uncompressed but its two sizes differ: {REDOWNLOAD}")
    check_declared(path, info.file_size, info.compress_size, f"the member {key}.npy", compressed=not stored)
    return info


def _npy_header(member: BinaryIO, path: Path, key: str) -> tuple[int, tuple[int, ...], bool, np.dtype]:
    """(header length, shape, Fortran order, dtype) of a `.npy` stream, parsed by numpy from a bounded copy."""
    start = read_up_to(member, 12)
    version = tuple(start[6:8])
    if start[:6] != b"\x93NUMPY" or version not in ((1, 0), (2, 0)):
        raise DatasetError(f"{path}: {key}.npy is not a version 1 or 2 .npy array: {REDOWNLOAD}")
    prefix = 10 if version == (1, 0) else 12
    length = int.from_bytes(start[8:prefix], "little")
    if not 16 <= length <= MAX_NPY_HEADER:  # numpy pads every header to 64 bytes
        raise DatasetError(f"{path}: {key}.npy declares a {length:,}-byte header: corrupt file; {REDOWNLOAD}")
    header = start[prefix:] + read_up_to(member, length - len(start[prefix:]))
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        shape, fortran, dtype = read_header(io.BytesIO(start[8:prefix] + header), max_header_size=MAX_NPY_HEADER)
    except (ValueError, SyntaxError, TypeError, RecursionError) as exc:
        raise DatasetError(f"{path}: {key}.npy has an unreadable header ({exc}): {REDOWNLOAD}") from exc
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise DatasetError(f"{path}: {key}.npy holds {dtype}, not plain numbers: {REDOWNLOAD}")
    return prefix + length, shape, fortran, dtype


def _read_member(archive: zipfile.ZipFile, key: str, size: int, path: Path) -> np.ndarray:
    """One member as an array exactly as large as its header says, and the member must end there."""
    info = _member_info(archive, key, size, path)
    with archive.open(info) as member:
        header_len, shape, fortran, dtype = _npy_header(member, path, key)  # type: ignore[arg-type]
        nbytes = math.prod(shape) * dtype.itemsize
        if any(d < 0 for d in shape) or (shape and shape[0] > MAX_ROWS):  # numpy's parser accepts both
            raise DatasetError(f"{path}: {key}.npy declares the shape {shape}: corrupt file; {REDOWNLOAD}")
        if header_len + nbytes != info.file_size:
            raise DatasetError(
                f"{path}: {key}.npy declares {shape} {dtype} ({nbytes:,} bytes) but the member holds "
                f"{info.file_size - header_len:,} bytes of data: truncated or corrupt file; {REDOWNLOAD}"
            )
        stored = info.compress_type == zipfile.ZIP_STORED  # then its size was checked against the file
        data = read_array(member, nbytes, path, f"{key}.npy", on_disk=stored)  # type: ignore[arg-type]
        expect_end(member, path, f"{key}.npy's header")  # type: ignore[arg-type]
    array = data.view(dtype)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The four arrays of a Keras `mnist.npz`."""
    with reading(path), path.open("rb") as handle:
        size = file_size(handle)
        if handle.read(4) != b"PK\x03\x04":  # zipfile reads from the end and would accept junk in front
            raise DatasetError(f"{path} does not start as a zip file (np.load refuses it too): {REDOWNLOAD}")
        directory = _directory_size(handle, size)
        if directory > MAX_ZIP_DIRECTORY:
            raise DatasetError(
                f"{path} has a {directory:,}-byte zip directory; mnist.npz lists four arrays: not Keras's "
                f"mnist.npz; {REDOWNLOAD}"
            )
        with zipfile.ZipFile(handle) as archive:
            return {key: _read_member(archive, key, size, path) for key in NPZ_KEYS}
