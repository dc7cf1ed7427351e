"""Reading untrusted dataset files in bounded pieces: the file may declare sizes, it never decides allocations.

Every parser in `data_formats` decides an array's size from the header, checks that size against the bytes
that can actually be there (the file on disk, or what a gzip stream of that size can inflate to), and only
then allocates, filling the array in chunks of at most `CHUNK` bytes. A decompressor asked for one chunk
inflates one chunk, so a gzip bomb costs time in proportion to the bytes it really holds, never memory.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from lab_utils.errors import DatasetError

CHUNK = 1 << 20
# "Absurd" limits. The largest legitimate arrays are full CIFAR-10's 150 MB of training images and
# MNIST's 60,000 rows: a header that declares more than this is corrupt or hostile, not a bigger dataset.
MAX_ARRAY_BYTES = 1 << 30
MAX_ROWS = 1_000_000
# Deflate emits at most 258 bytes per 2 bits, about 1032:1; a gzip or zip member that declares more
# inflated bytes than that bound cannot hold them, however it was built.
DEFLATE_MAX_RATIO = 1032
REDOWNLOAD = "re-download the official files (or copy them again from a good source)"
# What a damaged or truncated stream raises while being read: all become one DatasetError. (zipfile raises
# NotImplementedError for a member that claims an unknown zip version or compression method.)
READ_ERRORS = (
    EOFError,
    OSError,
    zlib.error,
    gzip.BadGzipFile,
    zipfile.BadZipFile,
    tarfile.TarError,
    NotImplementedError,
)


def file_size(handle: BinaryIO) -> int:
    """The size of an open file on disk: the one number a file cannot lie about."""
    return os.fstat(handle.fileno()).st_size


@contextlib.contextmanager
def reading(source: str | Path, what: str = "") -> Iterator[None]:
    """Turn the exceptions of a damaged stream, and running out of memory, into one `DatasetError`.

    MemoryError should not happen within the budget, but a machine may have less free memory than a
    legitimate array needs: the user then gets the file's name instead of a traceback from deep in numpy.
    """
    try:
        yield
    except DatasetError:
        raise
    except MemoryError as exc:
        raise DatasetError(
            f"not enough memory to load {source}: free memory (close other notebooks) or use a larger machine"
        ) from exc
    except READ_ERRORS as exc:
        raise DatasetError(f"cannot read {what}{source}: {exc} (truncated or corrupt file?): {REDOWNLOAD}") from exc


def check_declared(source: str | Path, nbytes: int, available: int, what: str, *, compressed: bool) -> None:
    """Refuse a declared size before anything is allocated for it.

    `available` is the bytes on disk behind the data; a compressed stream can inflate to at most
    `DEFLATE_MAX_RATIO` times that many.
    """
    if nbytes > MAX_ARRAY_BYTES:
        raise DatasetError(
            f"{source}: {what} declares {nbytes:,} bytes, more than any MNIST or CIFAR-10 file holds "
            f"(limit {MAX_ARRAY_BYTES:,}): the header is corrupt; {REDOWNLOAD}"
        )
    limit = DEFLATE_MAX_RATIO * available + CHUNK if compressed else available
    if nbytes > limit:
        holds = f"{available:,} compressed bytes can inflate to" if compressed else f"the file's {available:,} bytes"
        raise DatasetError(
            f"{source}: {what} declares {nbytes:,} bytes, more than {holds}: truncated or corrupt file; {REDOWNLOAD}"
        )


def read_up_to(stream: BinaryIO, n: int) -> bytes:
    """At most `n` bytes (less only at the end of the stream), asking the stream for one chunk at a time."""
    parts, got = [], 0
    while got < n:
        part = stream.read(min(CHUNK, n - got))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def read_array(stream: BinaryIO, nbytes: int, source: str | Path, what: str, *, on_disk: bool) -> np.ndarray:
    """Exactly `nbytes` as a uint8 array, read chunk by chunk. Call `check_declared` first.

    `on_disk`: the size was checked against the file itself, so the array is allocated at once and filled
    in place. Otherwise (a compressed stream) the chunks are collected first and the array allocated only
    once they all exist: a header that lies costs the bytes really there, not the bytes it claims.
    """
    if on_disk:
        out = np.empty(nbytes, dtype=np.uint8)
        view, got = memoryview(out), 0
        while got < nbytes and (n := stream.readinto(view[got : got + CHUNK])):
            got += n
    else:
        parts, got = [], 0
        while got < nbytes and (part := stream.read(min(CHUNK, nbytes - got))):
            parts.append(part)
            got += len(part)
    if got < nbytes:
        raise DatasetError(
            f"{source}: {what} declares {nbytes:,} bytes but the file holds only {got:,}: "
            f"truncated or corrupt file; {REDOWNLOAD}"
        )
    if not on_disk:
        out, got = np.empty(nbytes, dtype=np.uint8), 0
        for i, part in enumerate(parts):
            out[got : got + len(part)] = np.frombuffer(part, dtype=np.uint8)
            got, parts[i] = got + len(part), b""  # each chunk freed once copied
    return out


def expect_end(stream: BinaryIO, source: str | Path, what: str) -> None:
    """Refuse data after the declared end; reading to the end also makes gzip and zip check their CRC."""
    if stream.read(1):
        raise DatasetError(
            f"{source} holds more data than {what} declares (trailing bytes): corrupt file, or a header "
            f"that was edited; {REDOWNLOAD}"
        )
