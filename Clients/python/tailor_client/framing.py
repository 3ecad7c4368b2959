"""Framing of the Tailor protocol: a 4-byte big-endian length, then one serialized Frame."""

import struct

from tailor.v1 import frame_pb2

MAX_FRAME_BYTES = 4 << 20


class FrameTooLarge(ValueError):
    """A frame's length prefix announces more than MAX_FRAME_BYTES."""


def encode_frame(frame: "frame_pb2.Frame") -> bytes:
    """The frame with its length prefix."""
    body = frame.SerializeToString()
    if len(body) > MAX_FRAME_BYTES:
        raise FrameTooLarge(f"frame of {len(body)} bytes exceeds {MAX_FRAME_BYTES}")
    return struct.pack(">I", len(body)) + body


def decode_frames(buffer: bytearray):
    """Yields complete frames from the front of `buffer`, removing their bytes.

    The length is checked before the body is awaited, as the protocol requires.
    """
    while len(buffer) >= 4:
        (n,) = struct.unpack(">I", bytes(buffer[:4]))
        if n > MAX_FRAME_BYTES:
            raise FrameTooLarge(f"frame of {n} bytes exceeds {MAX_FRAME_BYTES}")
        if len(buffer) < 4 + n:
            return
        frame = frame_pb2.Frame()
        frame.ParseFromString(bytes(buffer[4 : 4 + n]))
        del buffer[: 4 + n]
        yield frame
