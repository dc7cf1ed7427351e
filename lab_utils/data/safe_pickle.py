"""Unpickle CIFAR-10 batches from untrusted files without letting the file decide what is allocated.

A pickle is a program, not a data format: a few hundred bytes can call `numpy.ndarray` with zero strides
over a one-byte buffer, which `np.ascontiguousarray` then turns into gigabytes. Every byte first passes
`pickle_stream.CheckedStream`; then the globals a numpy array needs are replaced by stand-ins that build
only plain C- or Fortran-ordered arrays, each over its own bytes and exactly as large as its data.
"""

from __future__ import annotations

import io
import math
import pickle
from typing import BinaryIO

import numpy as np

from lab_utils.data.bounded_read import MAX_ARRAY_BYTES, READ_ERRORS, REDOWNLOAD
from lab_utils.data.pickle_stream import CheckedStream, Refused, StreamFailed
from lab_utils.errors import DatasetError

_DTYPES = frozenset({"b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"})
_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}


class _ArrayStub:
    """Stands for `ndarray` until the pickle's BUILD gives its state; then holds the validated array."""

    __slots__ = ("_owner", "array")

    def __init__(self, owner: _Unpickler) -> None:
        self.array: np.ndarray | None = None
        self._owner = owner

    def __setstate__(self, state: object) -> None:
        if self.array is not None:
            raise Refused("an array's state is set twice")
        self.array = self._owner.build_array(state)


class _DtypeStub:
    """Stands for `numpy.dtype(name)`: plain numeric types only, byte order from the pickled state."""

    __slots__ = ("dtype",)

    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(name)

    def __setstate__(self, state: object) -> None:
        # numpy pickles a plain dtype as (3, byte order, None, None, None, -1, -1, flags).
        if type(state) is not tuple or len(state) != 8 or state[2:7] != (None, None, None, -1, -1):
            raise Refused("a dtype state that is not a plain numeric type")
        order = state[1].decode("latin1") if isinstance(state[1], bytes) else state[1]
        if order not in ("|", "<", ">", "="):
            raise Refused("a dtype with an unknown byte order")
        self.dtype = self.dtype.newbyteorder(order) if order in "<>" else self.dtype


class _Forbidden:
    """`numpy.ndarray` itself: `_reconstruct` receives it as a marker, but it must never be called."""

    __slots__ = ()

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise Refused("it calls numpy.ndarray directly (a view with chosen strides over a chosen buffer)")


_NDARRAY = _Forbidden()


class _Unpickler(pickle.Unpickler):
    """Resolves only the globals a numpy array needs, each to a stand-in that validates its arguments."""

    def __init__(self, stream: CheckedStream, source: str) -> None:
        super().__init__(stream, encoding="bytes")
        self._source = source
        self._budget = stream.check.size  # bytes `_codecs.encode` may create: no more than the file holds
        self._buffers: list[bytes] = []  # the bytes already backing an array (kept alive so ids stay unique)

    def find_class(self, module: str, name: str) -> object:
        """Refuse every global but numpy's array reconstruction, before anything is imported."""
        if (module, name) in _RECONSTRUCT:
            return self._reconstruct
        found = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): self._dtype, ("_codecs", "encode"): self._encode}
        if (module, name) in found:
            return found[(module, name)]
        raise DatasetError(
            f"refusing to unpickle {module}.{name} from {self._source}: the file may be corrupt or malicious; "
            f"{REDOWNLOAD}. (Batches re-saved by Python 3 load only with pickle protocol 2 to 4.)"
        )

    def _reconstruct(self, cls: object, shape: object, typecode: object) -> _ArrayStub:
        if cls is not _NDARRAY or type(shape) is not tuple or shape != (0,) or typecode not in (b"b", "b"):
            raise Refused("numpy's _reconstruct with arguments numpy never writes")
        return _ArrayStub(self)

    def _dtype(self, name: object, align: object = False, copy: object = True) -> _DtypeStub:
        name = name.decode("latin1") if isinstance(name, bytes) else name
        if type(name) is not str or name not in _DTYPES:
            raise Refused("a dtype that is not a plain number type")
        return _DtypeStub(name)

    def _encode(self, text: object, encoding: object = "utf-8", errors: object = "strict") -> bytes:
        """How Python 3's protocol 2 spells bytes: latin-1 text, nothing else (other codecs expand data)."""
        if type(text) is not str or encoding not in ("latin1", "latin-1") or errors != "strict":
            raise Refused("a _codecs.encode call that does not spell bytes as latin-1")
        self._budget -= len(text)
        if self._budget < 0:
            raise Refused("it decodes more bytes than the file holds (one payload used many times)")
        return text.encode("latin1")

    def build_array(self, state: object) -> np.ndarray:
        """A read-only array over its own bytes, C or Fortran ordered, exactly as large as its data."""
        if type(state) is not tuple or len(state) != 5:
            raise Refused("an array state that is not (version, shape, dtype, order, data)")
        version, shape, dtype, fortran, data = state
        if version != 1 or type(shape) is not tuple or len(shape) > 4 or not isinstance(dtype, _DtypeStub):
            raise Refused("an array header numpy does not write")
        if not all(type(d) is int and 0 <= d <= MAX_ARRAY_BYTES for d in shape) or type(data) is not bytes:
            raise Refused("an array with an impossible shape or non-bytes data")
        if fortran not in (True, False):  # also 0 / 1 from Python 2
            raise Refused("an array whose memory order is neither C nor Fortran")
        nbytes = math.prod(shape) * dtype.dtype.itemsize
        if nbytes != len(data):
            raise Refused(f"an array of shape {shape} needs {nbytes:,} bytes but its data holds {len(data):,}")
        if any(data is seen for seen in self._buffers):
            raise Refused("two arrays share one buffer (overlapping data)")
        self._buffers.append(data)
        return np.frombuffer(data, dtype=dtype.dtype).reshape(shape, order="F" if fortran else "C")


def _plain(value: object) -> object:
    """Replace stand-ins by what they stand for, one level deep: the only levels a CIFAR batch uses."""
    if isinstance(value, _ArrayStub):
        if value.array is None:
            raise Refused("an array without data")
        return value.array
    if isinstance(value, _DtypeStub):
        return value.dtype
    if type(value) is list:
        return [_plain(item) if isinstance(item, (_ArrayStub, _DtypeStub)) else item for item in value]
    return value


def load_dict(stream: BinaryIO, size: int, source: str) -> dict[str, object]:
    """Safely unpickle a CIFAR dict of `size` bytes from `stream`, decoding the official files' bytes keys."""
    checked = CheckedStream(stream, size)
    try:
        loaded = _Unpickler(checked, source).load()
        if checked.read(1):
            raise Refused("data after the pickle's end")
        if not isinstance(loaded, dict):
            raise Refused(f"it holds a {type(loaded).__name__}, not a CIFAR batch dict")
        if not all(isinstance(key, (bytes, str)) for key in loaded):
            raise Refused("a dict key that is not text")
        return {(k.decode("latin1") if isinstance(k, bytes) else k): _plain(v) for k, v in loaded.items()}
    except DatasetError:
        raise
    except StreamFailed as exc:
        raise exc.args[0] from None
    except Refused as exc:
        raise DatasetError(
            f"cannot unpickle {source}: {exc}: truncated or corrupt file (or a hostile one); {REDOWNLOAD}"
        ) from exc
    except MemoryError as exc:
        raise DatasetError(f"not enough memory to unpickle {source}: free memory or use a larger machine") from exc
    except (
        *READ_ERRORS,
        pickle.UnpicklingError,
        ValueError,
        TypeError,
        IndexError,
        AttributeError,
        KeyError,
        OverflowError,
        RecursionError,
    ) as exc:
        raise DatasetError(f"cannot unpickle {source}: {exc!r} (truncated or corrupt file?): {REDOWNLOAD}") from exc


def loads_dict(raw: bytes, source: str) -> dict[str, object]:
    """`load_dict` for bytes already in memory."""
    return load_dict(io.BytesIO(raw), len(raw), source)
