"""The byte stream under the CIFAR unpickler: every byte is validated before CPython's unpickler sees it.

CPython's C unpickler allocates as soon as it reads a length (a terabyte for BINBYTES8), grows its memo to
twice any index it is given, and builds a string four times its payload when one wide character appears.
`CheckedStream` walks the opcodes as bytes arrive: only data opcodes, every length within the bytes left in
the file and already read (so nothing is allocated for data that is not there), dense memo indices, Latin-1
text, a bounded number of opcodes, nothing after STOP.
"""

from __future__ import annotations

import codecs
import pickletools
from collections import deque
from typing import BinaryIO

from lab_utils.data.bounded_read import CHUNK, READ_ERRORS

# Opcodes that build data; the object-building ones (INST, OBJ, NEWOBJ, EXT*, PERSID) and protocol 5's
# out-of-band buffers are refused. Protocol-0 text opcodes are refused too: no CIFAR batch uses them.
_ALLOWED = frozenset(
    [
        "MARK",
        "STOP",
        "POP",
        "POP_MARK",
        "DUP",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG1",
        "LONG4",
        "NONE",
        "NEWTRUE",
        "NEWFALSE",
        "REDUCE",
        "BINSTRING",
        "SHORT_BINSTRING",
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
        "BINBYTES",
        "SHORT_BINBYTES",
        "BINBYTES8",
        "APPEND",
        "APPENDS",
        "BUILD",
        "GLOBAL",
        "STACK_GLOBAL",
        "DICT",
        "EMPTY_DICT",
        "SETITEM",
        "SETITEMS",
        "LIST",
        "EMPTY_LIST",
        "TUPLE",
        "EMPTY_TUPLE",
        "TUPLE1",
        "TUPLE2",
        "TUPLE3",
        "BINGET",
        "LONG_BINGET",
        "BINPUT",
        "LONG_BINPUT",
        "MEMOIZE",
        "BINFLOAT",
        "PROTO",
        "FRAME",
        "EMPTY_SET",
        "ADDITEMS",
        "FROZENSET",
    ]
)
_OPCODES = {op.code.encode("latin1")[0]: op for op in pickletools.opcodes}
# Bytes of the length field that precedes a counted payload, by pickletools' argument kind.
_LENGTH_FIELD = {
    pickletools.TAKEN_FROM_ARGUMENT1: (1, False),
    pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
    pickletools.TAKEN_FROM_ARGUMENT4U: (4, False),
    pickletools.TAKEN_FROM_ARGUMENT8U: (8, False),
}
_MAX_LINE = 256  # a GLOBAL's module or name
# Text payloads are checked as they pass: all text in a CIFAR batch (names, and bytes as Python 3's protocol 2
# spells them) is Latin-1, so its str is never larger than its bytes. Anything wider could make the C
# unpickler build a string four times the payload, and invalid UTF-8 an error object holding a copy of it.
_TEXT = frozenset({"BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"})
_PROTOCOL_HINT = "(batches re-saved by Python 3 load with pickle protocol 2 to 4, not 5)"


class Refused(Exception):
    """A construct no CIFAR batch contains; becomes a DatasetError naming the file."""


class StreamFailed(Exception):
    """The stream under the pickle failed (say, a truncated gzip around a tar member): re-raised as is,
    so the caller reports the file it opened rather than the pickle inside it."""


def max_opcodes(size: int) -> int:
    """Opcodes a batch of `size` bytes may hold: a row costs 3,072 data bytes but at most 4 opcodes.

    Each opcode can create an object of about a hundred bytes without any payload (an empty set, a memo
    reference), so this bound keeps such objects within a small fraction of the file's size.
    """
    return 4096 + size // 512


class _Validator:
    """Walks the opcode stream as bytes arrive, refusing anything unsafe before the unpickler acts on it."""

    def __init__(self, size: int) -> None:
        self.size, self.pos, self.ops = size, 0, 0
        self.stopped = False
        self._skip = 0  # payload bytes still to pass
        self._text: codecs.IncrementalDecoder | None = None  # set while the payload is text
        self._op = ""
        self.last_length = 0
        self._want = 0  # bytes of the current fixed argument or length field still to collect
        self._lines = 0  # GLOBAL lines still to collect
        self._part = bytearray()
        self._done: object = None  # what to do with the collected argument

    @property
    def skipping(self) -> int:
        """Bytes of an accepted payload not yet seen."""
        return self._skip

    def feed(self, data: bytes | memoryview) -> None:
        """Validate the next bytes of the stream."""
        view, i = memoryview(data).cast("B"), 0
        while i < len(view):
            if self._skip:
                step = min(self._skip, len(view) - i)
                self._skip -= step
                if self._text is not None:
                    self._check_text(view[i : i + step])
                i += step
            elif self._want:
                step = min(self._want, len(view) - i)
                self._part += view[i : i + step]
                self._want -= step
                i += step
                if not self._want:
                    self._finish(self.pos + i)
            elif self._lines:
                i = self._line(view, i)
            else:
                self._opcode(view[i], self.pos + i)
                i += 1
        self.pos += len(view)

    def _opcode(self, code: int, at: int) -> None:
        """Check one opcode and set up the collection of its argument."""
        op = _OPCODES.get(code)
        if self.stopped:
            raise Refused(f"{self.size - at:,} bytes follow the pickle's STOP (trailing data)")
        if op is None or op.name not in _ALLOWED:
            name = op.name if op else f"0x{code:02x}"
            raise Refused(f"opcode {name} at byte {at:,} does not belong in a data batch {_PROTOCOL_HINT}")
        self.ops += 1
        if self.ops > max_opcodes(self.size):
            raise Refused(f"more than {max_opcodes(self.size):,} opcodes in {self.size:,} bytes")
        self.stopped, self._op = op.name == "STOP", op.name
        if self.stopped and at + 1 != self.size:
            raise Refused(f"{self.size - at - 1:,} bytes follow the pickle's STOP (trailing data)")
        arg = op.arg
        if arg is None or arg.n == 0:
            return
        if op.name == "GLOBAL":
            self._lines = 2
        elif arg.n > 0:
            self._want, self._done = arg.n, op.name
        else:
            self._want, self._done = _LENGTH_FIELD[arg.n][0], arg.n

    def _finish(self, end: int) -> None:
        """A fixed argument or a length field is complete: check it against what the file can hold."""
        raw, done = bytes(self._part), self._done
        self._part.clear()
        if done in _LENGTH_FIELD:
            length = int.from_bytes(raw, "little", signed=_LENGTH_FIELD[done][1])
            if not 0 <= length <= self.size - end:
                raise Refused(f"a length of {length:,} bytes at byte {end:,}, with {self.size - end:,} left")
            self._skip = self.last_length = length
            text = self._op in _TEXT and length  # the C unpickler decodes with surrogatepass too
            self._text = codecs.getincrementaldecoder("utf-8")("surrogatepass") if text else None
        elif done == "PROTO" and raw[0] > 4:
            raise Refused(f"pickle protocol {raw[0]} {_PROTOCOL_HINT}")
        elif done == "FRAME" and int.from_bytes(raw, "little") > self.size - end:
            raise Refused(f"a frame longer than the {self.size - end:,} bytes left")
        elif done in ("BINPUT", "LONG_BINPUT") and int.from_bytes(raw, "little") > self.ops:
            # The C unpickler grows its memo to twice the index: a sparse index is an allocation bomb.
            raise Refused(f"memo index {int.from_bytes(raw, 'little'):,} after only {self.ops:,} opcodes")

    def _check_text(self, chunk: memoryview) -> None:
        """Decode one piece of a text payload (bounded by the chunk) and insist on Latin-1."""
        try:
            self._text.decode(bytes(chunk), final=not self._skip).encode("latin-1")  # type: ignore[union-attr]
        except UnicodeDecodeError as exc:
            raise Refused(f"text that is not UTF-8 ({exc.reason})") from None
        except UnicodeEncodeError:
            raise Refused("text outside Latin-1, which no CIFAR batch holds") from None
        if not self._skip:
            self._text = None

    def _line(self, view: memoryview, i: int) -> int:
        """Collect one line of a GLOBAL argument; return the position after what was consumed."""
        chunk = bytes(view[i : i + _MAX_LINE + 1 - len(self._part)])
        end = chunk.find(b"\n")
        taken = chunk if end < 0 else chunk[: end + 1]
        self._part += taken
        if len(self._part) > _MAX_LINE:
            raise Refused(f"a GLOBAL name longer than {_MAX_LINE} bytes")
        if end >= 0:
            self._part.clear()
            self._lines -= 1
        return i + len(taken)


class CheckedStream:
    """The file as the unpickler sees it: every byte it receives (or peeks at) has been validated, and a
    length it receives is backed by bytes already read, so nothing is allocated for data that is not there."""

    def __init__(self, raw: BinaryIO, size: int) -> None:
        self._raw, self._queue, self._queued = raw, deque[bytes](), 0
        self.check = _Validator(size)

    def _raw_read(self, n: int) -> bytes:
        try:
            return self._raw.read(min(n, CHUNK))
        except READ_ERRORS as exc:
            raise StreamFailed(exc) from exc

    def _fetch(self, n: int) -> bool:
        """Queue up to `n` more validated bytes, and all of any payload they begin; False at the end."""
        data = self._raw_read(n)
        self.check.feed(data)
        self._queue.append(data)
        self._queued += len(data)
        while self.check.skipping:  # a length was just accepted: read what it promises before anyone uses it
            more = self._raw_read(self.check.skipping)
            if not more:
                left, length = self.check.skipping, self.check.last_length
                raise Refused(f"the file ends {left:,} bytes before the end of a {length:,}-byte item")
            self.check.feed(more)
            self._queue.append(more)
            self._queued += len(more)
        return bool(data)

    def _take(self, n: int) -> bytes:
        """The first `n` queued bytes (fewer at the end of the file), removed from the queue."""
        parts, need = [], n
        while need and self._queue:
            head = self._queue.popleft()
            if len(head) > need:
                head, rest = head[:need], head[need:]
                self._queue.appendleft(rest)
            parts.append(head)
            need -= len(head)
        taken = parts[0] if len(parts) == 1 else b"".join(parts)
        self._queued -= len(taken)
        return taken

    def peek(self, n: int = 1) -> bytes:
        """Some next bytes without consuming them: the C unpickler prefetches with this."""
        if not self._queued:
            self._fetch(n)
        while len(self._queue) > 1 and len(self._queue[0]) < n:  # join short pieces, never a whole payload
            first = self._queue.popleft()
            self._queue[0] = first + self._queue[0]
        return self._queue[0] if self._queue else b""

    def readline(self) -> bytes:
        """One line (GLOBAL arguments), taken piece by piece; the validator already bounds its length."""
        line = b""
        while self._queued or self._fetch(_MAX_LINE):
            end = self._queue[0].find(b"\n")
            if end >= 0:
                return line + self._take(end + 1)
            line += self._take(len(self._queue[0]))
        return line

    def read(self, n: int = -1) -> bytes:
        """`n` bytes; `n` was checked against the file's size, and a long payload is already queued."""
        n = self.check.size if n is None or n < 0 else n
        while self._queued < n and self._fetch(n - self._queued):
            pass
        return self._take(n)

    def readinto(self, target: bytearray | memoryview) -> int:
        """Fill `target`, which the unpickler allocated for a length the queue already backs."""
        view, got = memoryview(target).cast("B"), 0
        while got < len(view) and (self._queued or self._fetch(len(view) - got)):
            part = self._take(min(len(view) - got, CHUNK))
            view[got : got + len(part)] = part
            got += len(part)
        return got
