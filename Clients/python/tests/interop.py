"""Wire interop with the Swift side, driven by TailorWireTests' PythonInteropTests.

Reads length-prefixed frames (hex, on stdin) that Swift encoded, re-encodes each after a
Python parse (which also checks UTF-8 in string fields), and appends frames built here.
Writes the result as hex on stdout for Swift to decode.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tailor_client import decode_frames, encode_frame, frame_pb2  # noqa: E402


def main():
    buf = bytearray(bytes.fromhex(sys.stdin.read().strip()))
    out = b""
    for f in decode_frames(buf):
        out += encode_frame(f)
    assert not buf, "trailing bytes"
    made = [
        frame_pb2.Frame(
            stream_id=1, request=frame_pb2.Request(service="tailor.v1.Health", method="Check", timeout_ms=500)
        ),
        frame_pb2.Frame(stream_id=3, event=frame_pb2.Event(payload="Grüße 🙂".encode())),
        frame_pb2.Frame(stream_id=5, status=frame_pb2.Status(code=3, message="bad", field="generate.prompt")),
        frame_pb2.Frame(stream_id=7, data=frame_pb2.Data(chunk=bytes(range(256)), last=True)),
    ]
    for f in made:
        out += encode_frame(f)
    sys.stdout.write(out.hex())


if __name__ == "__main__":
    main()
