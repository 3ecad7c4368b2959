#!/usr/bin/env python3
"""The security review's attacks, one after another, against a private tailord with a model.

The daemon runs in system mode, where every uid is a client; the attacks that hold
connections or fill queues run as another uid (nobody), as they would on a shared machine,
while the well-behaved client is root. For each attack it records the daemon's peak RSS while
the attack runs, and the slowest Health call the well-behaved client made meanwhile (one
every 0.1 s; a connect that finds the listen backlog full is retried, as a client would).
The daemon must survive every attack, stay under --max-rss-mib and answer within 1 s.

    python3 Benchmarks/attacks.py [--model PATH] [--tailord .build/release/tailord]

Prints a Markdown table (for BENCHMARKS.md) and exits 1 if any attack broke a bound.
"""

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import (
    Daemon,
    Client,
    TailorError,
    aliased_gguf_lora,
    default_model,
    encode_frame,
    frame_pb2,  # noqa: E402
    decoding_pb2,
    hello_bytes,
    raw_socket,
    ROOT,
)

TOKEN = "attack-test-token-0123456789"


def as_nobody(fn):
    """Runs `fn` in a child process as uid 65534 (group root, so it can reach the socket)."""

    def run(d, port):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.setgroups([])
                os.setuid(65534)
                fn(d, port)
            except BaseException as e:  # noqa: BLE001 - the child reports by exit code
                print(f"attacker failed: {e!r}", file=sys.stderr)
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        return "" if status == 0 else "ATTACKER FAILED (see stderr)"

    return run


def health(d, deadline=1.0):
    """One Health call on a new connection, retrying a full listen backlog until `deadline`."""
    end = time.perf_counter() + deadline
    while True:
        try:
            with Client(d.socket, timeout=5) as c:
                c.health()
            return
        except BlockingIOError:
            if time.perf_counter() > end:
                raise
            time.sleep(0.01)


def http_tcp(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def attack_http_integers(d, port):
    for field in ("n_predict", "top_k"):
        body = json.dumps({"prompt": "hi", field: 5_000_000_000}).encode()
        s = http_tcp(port)
        s.sendall(
            f"POST /completion HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        s.recv(4096)
        s.close()


def attack_safetensors_alias(d, port):
    names = [
        f"base_model.model.model.layers.{i % 30}.self_attn.q_proj.lora_{'AB'[i % 2]}.weight.{i}" for i in range(1000)
    ]
    header = json.dumps(
        {n: {"dtype": "F32", "shape": [512, 512], "data_offsets": [0, 1 << 20]} for n in names}
    ).encode()
    weights = struct.pack("<Q", len(header)) + header + bytes(1 << 20)
    cfg = json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]})
    with Client(d.socket) as c:
        try:
            c.import_adapter("email", weights, user="mallory", peft_config_json=cfg)
        except TailorError:
            pass


def attack_gguf_alias(d, port):
    with Client(d.socket) as c:
        try:
            c.import_adapter("email", aliased_gguf_lora(), user="mallory", fmt="gguf")
        except TailorError:
            pass


def attack_data_frames(d, port):
    s = raw_socket(d.socket, 5)
    gen = decoding_pb2.GenerateRequest(prompt="hi", max_tokens=512).SerializeToString()
    s.sendall(
        hello_bytes()
        + encode_frame(
            frame_pb2.Frame(
                stream_id=1, request=frame_pb2.Request(service="tailor.v1.Decoding", method="Generate", payload=gen)
            )
        )
    )
    chunk = encode_frame(frame_pb2.Frame(stream_id=1, data=frame_pb2.Data(chunk=bytes((4 << 20) - 64))))
    try:
        for _ in range(300):
            s.sendall(chunk)
    except OSError:
        pass
    s.close()


def attack_unread_refusals(d, port):
    s = raw_socket(d.socket, 5)
    s.sendall(hello_bytes())
    try:
        for i in range(300):
            s.sendall(
                encode_frame(
                    frame_pb2.Frame(
                        stream_id=2 * i + 1, request=frame_pb2.Request(service="x" * ((4 << 20) - 100), method="M")
                    )
                )
            )
    except OSError:
        pass
    s.close()


def hold(open_one, count, seconds=2):
    """Opens up to `count` sockets with `open_one`, holds them `seconds`, then closes them."""
    socks = []
    for _ in range(count):
        try:
            socks.append(open_one())
        except OSError:
            break
    time.sleep(seconds)
    for s in socks:
        s.close()


def attack_unauthenticated_bodies(d, port):
    def announce_and_send():
        s = http_tcp(port, 5)
        s.sendall(b"POST /completion HTTP/1.1\r\nHost: x\r\nContent-Length: 4194000\r\n\r\n")
        s.sendall(b"{" * ((4 << 20) - 1000))
        return s

    hold(announce_and_send, 150)


def attack_idle_connections(d, port):
    hold(lambda: raw_socket(d.socket, 5), 1000)


def attack_fill_queue(d, port):
    clients = [Client(d.socket, timeout=60) for _ in range(4)]
    gens = []
    for i in range(300):
        try:
            gens.append(clients[i % 4].generate(prompt="Once upon a time", max_tokens=256))
        except (OSError, TailorError):
            break
    time.sleep(8)  # holds the queue while root asks
    for c in clients:
        c.close()


def legit_generation(d):
    """root's own generation while another uid floods the queue: served, not refused."""
    with Client(d.socket, timeout=120) as c:
        return c.generate(prompt="Hello", max_tokens=4).result()


def attack_quota(d, port):
    with Client(d.socket) as c:
        for i in range(200):
            try:
                c.record_feedback("quota", f"r{i}", "email", "p" * 80_000, "shown", "rejected")
            except TailorError:
                break
    size = sum(
        os.path.getsize(os.path.join(d.dir, "state", f))
        for f in os.listdir(os.path.join(d.dir, "state"))
        if f.startswith("tailor.sqlite")
    )
    return f"database {size / 2**20:.1f} MiB under a 1 MB quota"


def attack_empty_entries(d, port):
    s = raw_socket(d.socket, 30)
    payload = b"\x0a\x01u" + b"\x1a\x00" * 2_000_000
    s.sendall(
        hello_bytes()
        + encode_frame(
            frame_pb2.Frame(
                stream_id=1,
                request=frame_pb2.Request(service="tailor.v1.Preferences", method="AddHistory", payload=payload),
            )
        )
    )
    try:
        s.recv(4096)
    except OSError:
        pass
    s.close()


ATTACKS = [
    ("1. n_predict / top_k = 5e9 over HTTP", attack_http_integers),
    ("2. safetensors: 1,000 tensors aliasing 1 MiB", attack_safetensors_alias),
    ("2. GGUF LoRA: 60 tensors aliasing 1.3 MB", attack_gguf_alias),
    ("3. Generate + 300 × 4 MiB Data frames (uid nobody)", as_nobody(attack_data_frames)),
    ("3. 300 × 4 MiB unknown services, replies unread (uid nobody)", as_nobody(attack_unread_refusals)),
    ("4. 150 unauthenticated HTTP bodies × 4 MiB", attack_unauthenticated_bodies),
    ("5. 1,000 connections that send nothing (uid nobody)", as_nobody(attack_idle_connections)),
    ("6. 300 queued generations (uid nobody)", as_nobody(attack_fill_queue)),
    ("7. rejected feedback past max_bytes_per_user", attack_quota),
    ("11. AddHistory of 2M empty items (4 MiB)", attack_empty_entries),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--tailord", default=os.path.join(ROOT, ".build/release/tailord"))
    ap.add_argument("--max-rss-mib", type=float, default=400)
    a = ap.parse_args()
    port = 21000 + os.getpid() % 20000
    token_file = os.path.join("/tmp", f"tailor-attack-token-{os.getpid()}")
    with open(token_file, "w") as f:
        f.write(TOKEN)
    d = Daemon(
        a.tailord,
        a.model,
        2,
        extra_config=f"mode = system\nhttp_listen = 127.0.0.1:{port}\n"
        f"http_token_file = {token_file}\nmax_bytes_per_user = 1000000\n",
    )
    os.chmod(d.dir, 0o755)
    time.sleep(1)
    rows, ok = [], True
    print(f"baseline RSS {d.rss_mib():.0f} MiB, {d.fds()} fds")
    for name, attack in ATTACKS:
        peak, slowest, failures = [d.rss_mib()], [0.0], [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak.append(d.rss_mib())
                t0 = time.perf_counter()
                try:
                    health(d)
                    slowest.append(time.perf_counter() - t0)
                except (OSError, TailorError):
                    failures[0] += 1
                time.sleep(0.1)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        if name.startswith("6."):
            attacker = threading.Thread(target=attack, args=(d, port))
            attacker.start()
            time.sleep(1.5)
            t0 = time.perf_counter()
            try:
                legit_generation(d)
                note = f"root's generation served in {time.perf_counter() - t0:.1f} s"
            except (OSError, TailorError) as e:
                note, failures[0] = f"root's generation failed: {e}", failures[0] + 1
            attacker.join()
        else:
            note = attack(d, port) or ""
        time.sleep(1)
        done.set()
        t.join()
        alive = d.alive()
        good = alive and max(peak) <= a.max_rss_mib and max(slowest) <= 1.0 and failures[0] == 0
        ok = ok and good
        rows.append(
            f"| {name} | {max(peak):.0f} | {max(slowest) * 1000:.0f} | {failures[0]} | "
            f"{'yes' if alive else 'NO'} | {note} |"
        )
        if not alive:
            break
    d.stop()
    os.unlink(token_file)
    print("| attack | peak RSS (MiB) | slowest Health (ms) | failed Health calls | daemon alive | note |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("attacks:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
