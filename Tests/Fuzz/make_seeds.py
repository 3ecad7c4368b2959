"""Writes the fuzz targets' seed corpus (Tests/Fuzz/Corpus/<target>/): small valid inputs
and a few near misses, from which libFuzzer mutates. Run from the repository root; the
output is committed, so neither CI nor the tests run this.

    PYTHONPATH=Clients/python/tailor_client/proto python3 Tests/Fuzz/make_seeds.py
"""

import json
import os
import struct

from tailor.v1 import frame_pb2, decoding_pb2, preferences_pb2

OUT = "Tests/Fuzz/Corpus"


def put(target, name, data):
    os.makedirs(f"{OUT}/{target}", exist_ok=True)
    with open(f"{OUT}/{target}/{name}", "wb") as f:
        f.write(data)


def frame(**kw):
    body = frame_pb2.Frame(**kw).SerializeToString()
    return struct.pack(">I", len(body)) + body


hello = frame(
    stream_id=0,
    request=frame_pb2.Request(
        service="tailor.v1.Session",
        method="Hello",
        payload=frame_pb2.HelloRequest(min_version=1, max_version=1, client="seed").SerializeToString(),
    ),
)
gen = decoding_pb2.GenerateRequest(model="tiny", prompt="hi", max_tokens=3, stop=["\n"]).SerializeToString()
put("frames", "hello", b"\x05" + hello)
put(
    "frames",
    "generate",
    b"\x00"
    + hello
    + frame(stream_id=1, request=frame_pb2.Request(service="tailor.v1.Decoding", method="Generate", payload=gen)),
)
put(
    "frames",
    "data-cancel",
    b"\x09"
    + frame(stream_id=3, data=frame_pb2.Data(chunk=b"abc", last=True))
    + frame(stream_id=3, cancel=frame_pb2.Cancel(reason="x")),
)
history = preferences_pb2.AddHistoryRequest(
    user="u", items=[preferences_pb2.HistoryItem(id="a", task="t", input="i", output="o")]
)
put(
    "frames",
    "add-history",
    b"\x03"
    + frame(
        stream_id=5,
        request=frame_pb2.Request(
            service="tailor.v1.Preferences", method="AddHistory", payload=history.SerializeToString()
        ),
    ),
)
put("frames", "oversize", b"\x02" + b"\xff\xff\xff\xff")

for i, body in enumerate(
    [
        {"prompt": "hello", "n_predict": 8, "temperature": 0.5, "top_k": 40, "stop": ["\n"], "stream": True},
        {
            "input_prefix": "def f(",
            "input_suffix": ")",
            "input_extra": [{"filename": "a.py", "text": "x = 1"}],
            "t_max_prompt_ms": 500,
        },
        {"prompt": [1, 2, 3], "seed": 7, "response_fields": ["content"]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "max_tokens": 4},
    ]
):
    put("http-request", f"endpoint{i}", bytes([i]) + json.dumps(body).encode())
put("http-request", "huge-ints", b"\x00" + b'{"prompt": "x", "n_predict": 5000000000, "top_k": 1e300}')


def safetensors(header, data):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


put(
    "safetensors",
    "two-tensors",
    safetensors(
        {
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]},
            "__metadata__": {"format": "pt"},
        },
        bytes(12),
    ),
)
put(
    "safetensors",
    "overlap",
    safetensors(
        {
            "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        },
        bytes(4),
    ),
)
put(
    "safetensors",
    "peft-adapter",
    open("Tests/TailorEngineTests/Fixtures/lora/llama-user-peft/adapter_model.safetensors", "rb").read(),
)

put(
    "jsonl",
    "records",
    b'{"id": "a", "input": "i", "output": "o", "metadata": {"k": 1}}\n'
    b'{"id": "p", "prompt": "q", "chosen": "good", "rejected": "bad"}\n\n{"truncated": ',
)
put("jsonl", "crlf-and-numbers", b'{"id": 2, "task": "t", "input": "i", "output": "o"}\r\n[1]\n')

# GGUF: a LoRA adapter for the tiny llama (2 layers, 64 wide), as llama.cpp writes one, and a
# header-only model-like file with metadata of each kind.
import tempfile  # noqa: E402

import gguf  # noqa: E402
import numpy as np  # noqa: E402


def gguf_bytes(fill):
    path = tempfile.mktemp(suffix=".gguf")
    w = gguf.GGUFWriter(path, "llama")
    fill(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = open(path, "rb").read()
    os.unlink(path)
    return data


def lora(w):
    w.add_string("general.type", "adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", 8.0)
    for layer in range(2):
        w.add_tensor(f"blk.{layer}.attn_q.weight.lora_a", np.full((2, 64), 0.01, dtype=np.float32))
        w.add_tensor(f"blk.{layer}.attn_q.weight.lora_b", np.full((64, 2), 0.02, dtype=np.float16))


def header(w):
    w.add_uint32("llama.block_count", 2)
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "<s>"])
    w.add_bool("flag", True)
    w.add_tensor("token_embd.weight", np.zeros((3, 8), dtype=np.float32))


lora_bytes = gguf_bytes(lora)
put("gguf-lora", "llama-q-lora", lora_bytes)
put("gguf", "llama-q-lora", lora_bytes)
put("gguf", "model-header", gguf_bytes(header))
