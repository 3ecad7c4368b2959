#!/usr/bin/env python3
"""Soak test of tailord under well-behaved and hostile clients at once.

Starts a private tailord (its own socket, state directory and HTTP socket) with a model, then
for `--minutes` runs `--clients` client threads, each looping over a random mix of:
- generations (some cancelled after a few tokens, some abandoned by closing the socket);
- preference writes, editor feedback, a JSONL import and forget-me;
- an adapter import (the tiny PEFT fixture is for another model: refused after checking), and
  the review's amplification uploads (aliased safetensors and GGUF LoRA tensors);
- garbage bytes, oversize frames, Data frames on a Generate stream, floods of refused
  requests whose replies are never read, silent sockets, a flood of empty entries;
- HTTP: the integers that once killed the daemon, a wrong token with a large body, and
  sockets that never send a head.
One more client calls Health every 0.25 s and records its latency. The daemon's RSS and open
descriptors are sampled every second. At the end it prints (and writes as JSON with --json):
peak and final RSS, descriptors at the start, peak and end, Health latency p50/p99/max, how
many operations of each kind ran, and whether the daemon was alive throughout.

    python3 Benchmarks/soak.py --minutes 10 [--clients 8] [--model PATH] [--tailord .build/release/tailord]

Exit status 1 if the daemon died, RSS grew past --max-rss-mib, descriptors leaked (more open
at the end than at the start plus a small slack), or a Health call took over 1 s.
Needs the Python client's dependencies (protobuf).
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Clients/python"))
sys.path.insert(0, os.path.join(ROOT, "Clients/python/tailor_client/proto"))
from tailor_client import Client, TailorError  # noqa: E402
from tailor_client.framing import encode_frame  # noqa: E402
from tailor.v1 import decoding_pb2, frame_pb2, preferences_pb2  # noqa: E402


def default_model():
    d = os.environ.get("TAILOR_MODELS_DIR", os.path.expanduser("~/.local/share/tailor/models"))
    return os.path.join(d, "SmolLM2-135M-Instruct.Q4_1.gguf")


class Daemon:
    """A private tailord and its resource samples."""

    def __init__(self, tailord, model, threads, extra_config=""):
        self.dir = tempfile.mkdtemp(prefix="tailor-soak-")
        self.socket = os.path.join(self.dir, "t.sock")
        self.http = os.path.join(self.dir, "http.sock")
        conf = os.path.join(self.dir, "tailord.conf")
        with open(conf, "w") as f:
            f.write(f"http_socket = {self.http}\nslots = 4\nmax_bytes_per_user = 4000000\n" + extra_config)
        self.log = open(os.path.join(self.dir, "tailord.log"), "w")
        self.proc = subprocess.Popen(
            [
                tailord,
                "--socket",
                self.socket,
                "--state-dir",
                os.path.join(self.dir, "state"),
                "--config",
                conf,
                "--model",
                model,
                "-t",
                str(threads),
            ],
            stdout=self.log,
            stderr=self.log,
        )
        for _ in range(600):
            if os.path.exists(self.socket) and os.path.exists(self.http):
                break
            time.sleep(0.05)
        else:
            raise SystemExit("tailord did not start: see " + self.log.name)

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def raw_socket(path, timeout=2.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def hello_bytes():
    req = frame_pb2.HelloRequest(min_version=1, max_version=1, client="soak")
    return encode_frame(
        frame_pb2.Frame(
            stream_id=0,
            request=frame_pb2.Request(service="tailor.v1.Session", method="Hello", payload=req.SerializeToString()),
        )
    )


def aliased_gguf_lora():
    """A GGUF LoRA for SmolLM2 (30 layers, 576 wide) whose 60 rank-576 tensors all point at one
    1.3 MB data region: 80 MB of floats if converted before its layout is checked."""

    def string(t):
        return struct.pack("<Q", len(t)) + t.encode()

    kv = [
        ("general.architecture", 8, string("llama")),
        ("general.type", 8, string("adapter")),
        ("adapter.type", 8, string("lora")),
        ("adapter.lora.alpha", 6, struct.pack("<f", 16.0)),
    ]
    out = b"GGUF" + struct.pack("<IQQ", 3, 60, len(kv))
    for k, t, v in kv:
        out += string(k) + struct.pack("<I", t) + v
    for layer in range(30):
        for ab in "ab":
            out += string(f"blk.{layer}.attn_q.weight.lora_{ab}") + struct.pack("<IQQIQ", 2, 576, 576, 0, 0)
    out += b"\0" * ((32 - len(out) % 32) % 32)
    return out + bytes(576 * 576 * 4)


def http_request(path, head, body=b"", timeout=5.0):
    s = raw_socket(path, timeout)
    try:
        s.sendall(head + body)
        return s.recv(4096)
    except OSError:
        return b""
    finally:
        s.close()


class Soak:
    def __init__(self, daemon, fixture_dir):
        self.d = daemon
        self.fixture_dir = fixture_dir
        self.stop = threading.Event()
        self.counts = {}
        self.errors = {}
        self.lock = threading.Lock()
        self.health = []

    def count(self, what, error=None):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1
            if error is not None:
                key = f"{what}: {type(error).__name__} {getattr(error, 'code', '')}".strip()
                self.errors[key] = self.errors.get(key, 0) + 1

    # Well-behaved work.

    def generate(self, rng):
        with Client(self.d.socket, timeout=120) as c:
            g = c.generate(
                prompt=rng.choice(["Once upon a time", "The theme of", "def main():"]),
                max_tokens=rng.randint(4, 48),
                temperature=rng.choice([0.0, 0.8]),
                seed=rng.randint(0, 1000),
            )
            stop_after = rng.choice([None, 2, 5])
            for i, _ in enumerate(g):
                if stop_after is not None and i == stop_after:
                    if rng.random() < 0.5:
                        g.cancel()
                    else:
                        return  # hang up mid-stream
        self.count("generate")

    def preferences(self, rng):
        user = f"soak{rng.randint(0, 3)}"
        with Client(self.d.socket) as c:
            items = [
                {
                    "id": f"h{rng.randint(0, 10**6)}",
                    "task": "email",
                    "input": "subject for: lunch",
                    "output": "Lunch moved to 1pm",
                }
                for _ in range(rng.randint(1, 20))
            ]
            c.add_history(user, items)
            c.record_feedback(
                user, f"r{rng.randint(0, 10**6)}", "email", "p", "shown text", rng.choice(["accepted", "rejected"])
            )
            jsonl = "".join(
                json.dumps({"id": f"j{rng.randint(0, 10**6)}", "input": "i", "output": "o"}) + "\n" for _ in range(50)
            )
            c.import_data(user, jsonl.encode(), task="email")
            if rng.random() < 0.1:
                c.delete_user(user)
        self.count("preferences")

    def import_adapter(self, rng):
        with Client(self.d.socket) as c:
            cfg = open(os.path.join(self.fixture_dir, "adapter_config.json")).read()
            weights = open(os.path.join(self.fixture_dir, "adapter_model.safetensors"), "rb").read()
            try:
                c.import_adapter("email", weights, user="soak", peft_config_json=cfg)
            except TailorError:
                pass  # the fixture is for the tiny llama: refused after its header is checked
        self.count("import")

    # Hostile work.

    def hostile_adapters(self, rng):
        """The review's amplification uploads: 1,000 safetensors tensors aliasing one 1 MiB
        region (1.1 MB that once became 2 GiB of floats), and a GGUF LoRA whose tensors all
        point at the same data."""
        with Client(self.d.socket) as c:
            if rng.random() < 0.5:
                names = [
                    f"base_model.model.model.layers.{i % 30}.self_attn.q_proj.lora_{'AB'[i % 2]}.weight.{i}"
                    for i in range(1000)
                ]
                header = json.dumps(
                    {n: {"dtype": "F32", "shape": [512, 512], "data_offsets": [0, 1 << 20]} for n in names}
                ).encode()
                weights = struct.pack("<Q", len(header)) + header + bytes(1 << 20)
                cfg = json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]})
                fmt = "peft"
            else:
                weights, cfg, fmt = aliased_gguf_lora(), "", "gguf"
            try:
                c.import_adapter("email", weights, user="mallory", peft_config_json=cfg, fmt=fmt)
            except TailorError:
                pass
        self.count("hostile_adapters")

    def garbage(self, rng):
        s = raw_socket(self.d.socket)
        try:
            kind = rng.randint(0, 5)
            if kind == 0:
                s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096))))
            elif kind == 1:
                s.sendall(b"\x00\x40\x00\x00" + b"\x00" * 1000)  # announces 4 MiB before Hello
            elif kind == 2:
                gen = decoding_pb2.GenerateRequest(prompt="hi", max_tokens=64).SerializeToString()
                s.sendall(
                    hello_bytes()
                    + encode_frame(
                        frame_pb2.Frame(
                            stream_id=1,
                            request=frame_pb2.Request(service="tailor.v1.Decoding", method="Generate", payload=gen),
                        )
                    )
                )
                data = encode_frame(frame_pb2.Frame(stream_id=1, data=frame_pb2.Data(chunk=b"x" * (1 << 20))))
                for _ in range(16):
                    s.sendall(data)
            elif kind == 3:
                frames = b"".join(
                    encode_frame(
                        frame_pb2.Frame(stream_id=2 * i + 1, request=frame_pb2.Request(service="x" * 4000, method="M"))
                    )
                    for i in range(300)
                )
                s.sendall(hello_bytes() + frames)  # replies never read
            elif kind == 4:
                payload = b"\x0a\x01u" + b"\x1a\x00" * 1_500_000
                s.sendall(
                    hello_bytes()
                    + encode_frame(
                        frame_pb2.Frame(
                            stream_id=1,
                            request=frame_pb2.Request(
                                service="tailor.v1.Preferences", method="AddHistory", payload=payload
                            ),
                        )
                    )
                )
                s.recv(4096)
            else:
                time.sleep(rng.uniform(0.5, 3))  # a silent socket, until the Hello timeout
        except OSError:
            pass
        finally:
            s.close()
        self.count("garbage")

    def http_attacks(self, rng):
        kind = rng.randint(0, 2)
        if kind == 0:
            body = json.dumps({"prompt": "hi", rng.choice(["n_predict", "top_k"]): 5_000_000_000}).encode()
            head = (
                f"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            http_request(self.d.http, head, body)
        elif kind == 1:
            head = b"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\nConnection: close\r\n\r\n"
            http_request(self.d.http, head, b"{" * 100_000)  # more is announced than sent
        else:
            s = raw_socket(self.d.http, 15)
            try:
                s.recv(10)  # says nothing; the header timeout closes it
            except OSError:
                pass
            s.close()
        self.count("http")

    def worker(self, seed):
        rng = random.Random(seed)
        ops = (
            [self.generate] * 4
            + [self.preferences] * 2
            + [self.import_adapter, self.hostile_adapters, self.garbage, self.garbage, self.http_attacks]
        )
        while not self.stop.is_set():
            op = rng.choice(ops)
            try:
                op(rng)
            except Exception as e:  # noqa: BLE001 - recorded; a client's failure is not the daemon's
                self.count(op.__name__, e)

    def prober(self):
        while not self.stop.is_set():
            t0 = time.perf_counter()
            try:
                with Client(self.d.socket, timeout=10) as c:
                    c.health()
                self.health.append(time.perf_counter() - t0)
            except (OSError, TailorError):
                self.health.append(float("inf"))
            time.sleep(0.25)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--tailord", default=os.path.join(ROOT, ".build/release/tailord"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-rss-mib", type=float, default=400)
    ap.add_argument("--json")
    a = ap.parse_args()

    d = Daemon(a.tailord, a.model, a.threads)
    soak = Soak(d, os.path.join(ROOT, "Tests/TailorEngineTests/Fixtures/lora/llama-user-peft"))
    time.sleep(1)
    fds_start, rss_start = d.fds(), d.rss_mib()
    samples = []
    threads = [threading.Thread(target=soak.worker, args=(i,), daemon=True) for i in range(a.clients)]
    threads.append(threading.Thread(target=soak.prober, daemon=True))
    for t in threads:
        t.start()
    end = time.time() + a.minutes * 60
    alive = True
    while time.time() < end:
        if not d.alive():
            alive = False
            break
        samples.append((d.rss_mib(), d.fds()))
        time.sleep(1)
    soak.stop.set()
    for t in threads:
        t.join(timeout=60)
    time.sleep(6)  # let silent sockets time out and streams end
    fds_end = d.fds() if d.alive() else -1
    rss_end = d.rss_mib() if d.alive() else -1
    alive = alive and d.alive()
    d.stop()
    health = sorted(soak.health)
    finite = [h for h in health if h != float("inf")]
    q = lambda p: health[min(len(health) - 1, int(p * len(health)))] * 1000 if health else float("nan")
    result = {
        "minutes": a.minutes,
        "clients": a.clients,
        "alive": alive,
        "rss_mib": {
            "start": round(rss_start),
            "peak": round(max(r for r, _ in samples)),
            "end": round(rss_end),
            "peak_per_minute": [round(max(r for r, _ in samples[i : i + 60])) for i in range(0, len(samples), 60)],
        },
        "fds": {"start": fds_start, "peak": max(f for _, f in samples), "end": fds_end},
        "health_ms": {
            "p50": round(q(0.5), 1),
            "p99": round(q(0.99), 1),
            "max": round(max(finite) * 1000, 1) if finite else None,
            "failed": len(health) - len(finite),
            "calls": len(health),
        },
        "operations": soak.counts,
        "client_errors": soak.errors,
    }
    print(json.dumps(result, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    shutil.rmtree(d.dir, ignore_errors=True)
    ok = (
        alive
        and result["rss_mib"]["peak"] <= a.max_rss_mib
        and fds_end <= fds_start + 4
        and result["health_ms"]["failed"] == 0
        and (result["health_ms"]["max"] or 0) <= 1000
    )
    print("soak:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
