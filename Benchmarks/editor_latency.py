#!/usr/bin/env python3
"""Editor completion latency through tailord's llama.cpp-compatible HTTP endpoint.

Sends /infill requests shaped like llama.vim's, streamed, with a ~1,024-token prefix and
reports time to first token and completion latency (p50, p95), measured by the client:
- cold: every request has a different prefix (no prompt-cache reuse);
- warm: one prefix that grows by a few characters per request, as while typing (the daemon
  reuses the KV cache of the shared prefix);
- typing: the same, but each request is first sent once and dropped 30 ms in, as llama.vim
  cancels its last request on every keystroke; the next request should still find the prefix.

    python3 Benchmarks/editor_latency.py --socket $XDG_RUNTIME_DIR/tailor/http.sock [-n 20]

Needs a tailord with `http_socket` set (see docs/editors.md). Standard library only.
"""

import argparse
import glob
import http.client
import json
import os
import socket
import statistics
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=600)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def infill(sock_path, prefix, suffix, n_predict):
    """One streamed /infill: (ttft_s, total_s, prompt_n, tokens_cached, predicted_n)."""
    body = {
        "input_prefix": prefix,
        "input_suffix": suffix,
        "input_extra": [],
        "prompt": "",
        "n_predict": n_predict,
        "top_k": 40,
        "top_p": 0.9,
        "samplers": ["top_k", "top_p", "infill"],
        "stream": True,
        "cache_prompt": True,
        "temperature": 0,
        "t_max_prompt_ms": 60000,
        "t_max_predict_ms": 60000,
    }
    c = UnixHTTPConnection(sock_path)
    t0 = time.perf_counter()
    c.request("POST", "/infill", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 200, r.read()
    ttft, final = None, None
    buf = b""
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if not event.startswith(b"data: "):
                continue
            o = json.loads(event[6:])
            if ttft is None and not o.get("stop"):
                ttft = time.perf_counter() - t0
            if o.get("stop"):
                final = o
    total = time.perf_counter() - t0
    c.close()
    t = final["timings"]
    return (ttft if ttft is not None else total), total, t["prompt_n"], final["tokens_cached"], t["predicted_n"]


def cancelled_infill(sock_path, prefix, suffix, n_predict, after_s):
    """A streamed /infill whose connection is closed `after_s` in, as llama.vim drops its last
    request on the next keystroke."""
    body = {
        "input_prefix": prefix,
        "input_suffix": suffix,
        "input_extra": [],
        "prompt": "",
        "n_predict": n_predict,
        "samplers": ["top_k", "top_p", "infill"],
        "stream": True,
        "cache_prompt": True,
        "temperature": 0,
    }
    c = UnixHTTPConnection(sock_path)
    c.request("POST", "/infill", json.dumps(body), {"Content-Type": "application/json"})
    time.sleep(after_s)
    c.sock.close()
    c.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round((len(xs) - 1) * p)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("-n", type=int, default=20, help="requests per phase")
    ap.add_argument(
        "--prefix-chars", type=int, default=3600, help="≈1,024 tokens of Swift source for SmolLM2's tokenizer"
    )
    ap.add_argument("--n-predict", type=int, default=16)
    a = ap.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    text = "".join(
        open(f, encoding="utf-8").read()
        for f in sorted(glob.glob(os.path.join(root, "Sources/**/*.swift"), recursive=True))
    )
    suffix = "\n}\n"
    infill(a.socket, text[:200], suffix, 2)  # load and warm the code paths
    rows = {}
    cold = [
        infill(a.socket, text[(i + 1) * 7919 : (i + 1) * 7919 + a.prefix_chars], suffix, a.n_predict)
        for i in range(a.n)
    ]
    base = text[500000 % max(1, len(text) - a.prefix_chars - 10 * a.n) :][: a.prefix_chars]
    infill(a.socket, base, suffix, a.n_predict)  # the first request of a typing session fills the cache
    warm = [infill(a.socket, base + text[len(base) : len(base) + 3 * (i + 1)], suffix, a.n_predict) for i in range(a.n)]
    # Typing with cancels: each keystroke's request is dropped 30 ms in by the next one, which
    # then runs to its end; its TTFT should stay near the warm figure.
    typing = []
    for i in range(a.n):
        grow = len(base) + 3 * (a.n + 1) + 6 * i
        cancelled_infill(a.socket, base + text[len(base) : grow], suffix, a.n_predict, 0.03)
        typing.append(infill(a.socket, base + text[len(base) : grow + 3], suffix, a.n_predict))
    rows["cold"], rows["warm"], rows["typing, each previous request cancelled at 30 ms"] = cold, warm, typing
    print(f"{a.n} streamed /infill requests per phase, prefix {a.prefix_chars} chars, n_predict {a.n_predict}")
    print("| phase | prompt tokens (mean) | cached (mean) | TTFT p50 | TTFT p95 | completion p50 | completion p95 |")
    print("|---|---|---|---|---|---|---|")
    for k, rs in rows.items():
        print(
            f"| {k} | {statistics.mean(r[2] + r[3] for r in rs):.0f} | {statistics.mean(r[3] for r in rs):.0f} | "
            f"{pct([r[0] for r in rs], 0.5) * 1000:.0f} ms | {pct([r[0] for r in rs], 0.95) * 1000:.0f} ms | "
            f"{pct([r[1] for r in rs], 0.5) * 1000:.0f} ms | {pct([r[1] for r in rs], 0.95) * 1000:.0f} ms |"
        )
    print(f"warm / cold TTFT p50: {pct([r[0] for r in warm], 0.5) / pct([r[0] for r in cold], 0.5):.2f}x")
    print(f"typing / warm TTFT p50: {pct([r[0] for r in typing], 0.5) / pct([r[0] for r in warm], 0.5):.2f}x")


if __name__ == "__main__":
    main()
