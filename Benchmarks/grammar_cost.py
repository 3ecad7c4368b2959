#!/usr/bin/env python3
"""Cost of constrained decoding per token, through tailord's HTTP endpoint.

Generates the same number of tokens from the same chat prompt, greedily, with the end of
generation banned (ignore_eos), unconstrained and under three constraints, and reports the
daemon's own decode time per token (timings.predicted_per_token_ms, median of n runs) and
its ratio to the unconstrained run of the same round:
- gbnf: a one-rule grammar (lowercase words);
- json_object: OpenAI's JSON mode (any object);
- json_schema: an object with three typed properties.

    python3 Benchmarks/grammar_cost.py --socket $XDG_RUNTIME_DIR/tailor/http.sock [-n 5]

Needs a tailord with `http_socket` set (see docs/editors.md). Standard library only.
"""

import argparse
import json
import statistics

from editor_latency import UnixHTTPConnection


CONSTRAINTS = {
    "none": {},
    "gbnf": {"grammar": 'root ::= [a-z]+ (" " [a-z]+)*'},
    "json_object": {"response_format": {"type": "json_object"}},
    "json_schema": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "schema": {
                    "type": "object",
                    "required": ["name", "age", "tags"],
                    "properties": {
                        "name": {"type": "string"},
                        "age": {"type": "integer"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                }
            },
        }
    },
}


def run(sock_path, constraint, n_predict):
    body = {
        "messages": [{"role": "user", "content": "Describe a person you know, in detail."}],
        "max_tokens": n_predict,
        "temperature": 0,
        "ignore_eos": True,
        **CONSTRAINTS[constraint],
    }
    c = UnixHTTPConnection(sock_path)
    c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    o = json.loads(r.read())
    assert r.status == 200, o
    t = o["timings"]
    return t["predicted_per_token_ms"], t["predicted_n"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=64)
    a = ap.parse_args()
    run(a.socket, "none", 8)  # warm-up
    per_token = {k: [] for k in CONSTRAINTS}
    tokens = {k: [] for k in CONSTRAINTS}
    for _ in range(a.n):  # rounds, so that a noisy moment touches every variant alike
        for k in CONSTRAINTS:
            ms, n = run(a.socket, k, a.tokens)
            per_token[k].append(ms)
            tokens[k].append(n)
    base = statistics.median(per_token["none"])
    print(f"{'constraint':<12} {'ms/token p50':>13} {'× none':>7} {'tokens':>7}")
    for k in CONSTRAINTS:
        m = statistics.median(per_token[k])
        print(f"{k:<12} {m:>13.2f} {m / base:>7.2f} {statistics.median(tokens[k]):>7.0f}")


if __name__ == "__main__":
    main()
