"""Thin Python client of tailord (Proto/README.md specifies the protocol).

The protobuf modules are generated from Proto/ by Scripts/generate-wire.sh into
tailor_client/proto (importable as tailor.v1.frame_pb2 and so on).
"""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.join(_os.path.dirname(__file__), "proto"))

from tailor.v1 import frame_pb2  # noqa: E402  (generated)

from .framing import MAX_FRAME_BYTES, FrameTooLarge, decode_frames, encode_frame  # noqa: E402
from .client import Client, Generation, TailorError, default_socket_path  # noqa: E402

__all__ = [
    "frame_pb2",
    "encode_frame",
    "decode_frames",
    "FrameTooLarge",
    "MAX_FRAME_BYTES",
    "Client",
    "Generation",
    "TailorError",
    "default_socket_path",
]
