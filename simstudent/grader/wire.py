"""Length-prefixed JSON frames: the grader's only wire format.

Used on both pipes of the sandbox: grader <-> worker (the worker's stdin/stdout) and
submission child -> worker (the result pipe). Each frame is a 4-byte big-endian
length followed by that many bytes of UTF-8 JSON (an object).

Stdlib only: this file is copied (bind-mounted) into the sandbox and imported there
by ``worker.py`` without the rest of simstudent.
"""

from __future__ import annotations

import json
import os
import struct

HEADER = struct.Struct(">I")
# Requests carry whole programs and test files; results carry capped outputs.
MAX_FRAME = 64 * 1024 * 1024


class FrameError(Exception):
    """The bytes on a pipe are not a well-formed frame (garbled or tampered)."""


def encode(obj: dict) -> bytes:
    """One frame for ``obj``."""
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
    return HEADER.pack(len(data)) + data


def write_frame(fd: int, obj: dict) -> None:
    """Write one whole frame to a blocking file descriptor."""
    view = memoryview(encode(obj))
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed mid-frame" if chunks else "pipe closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, max_size: int = MAX_FRAME) -> dict:
    """Read one frame from a blocking fd. EOFError when the pipe is closed."""
    (size,) = HEADER.unpack(_read_exact(fd, HEADER.size))
    if size > max_size:
        raise FrameError(f"frame of {size} bytes exceeds the {max_size}-byte limit")
    return decode(_read_exact(fd, size))


def decode(data: bytes) -> dict:
    """Parse a frame body; FrameError unless it is a JSON object."""
    try:
        obj = json.loads(data.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError(f"frame is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise FrameError("frame is not a JSON object")
    return obj


class FrameBuffer:
    """Incremental decoder for a non-blocking pipe: feed bytes, pop whole frames."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[dict]:
        """Add bytes; return every frame now complete (FrameError if garbled)."""
        self._buf += data
        frames = []
        while len(self._buf) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buf)
            if size > self.max_size:
                raise FrameError(f"result frame of {size} bytes exceeds the {self.max_size}-byte limit")
            if len(self._buf) < HEADER.size + size:
                break
            body = bytes(self._buf[HEADER.size : HEADER.size + size])
            del self._buf[: HEADER.size + size]
            frames.append(decode(body))
        return frames

    @property
    def pending(self) -> int:
        """Bytes received that do not (yet) form a whole frame."""
        return len(self._buf)
