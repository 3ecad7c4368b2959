"""What the tailor_cluster tests share: paths, the tailor CLI, and the skip rules.

The tests need torch, transformers, peft, trl and datasets (and ray for the run test); without
them they skip, naming what is missing. They drive the `tailor` CLI of this checkout
($TAILOR_BIN, default .build/debug/tailor) and, for the round trip, a live tailord serving the
committed tiny llama as "tiny" ($TAILOR_TEST_SOCKET; Scripts/test.sh starts one).
"""

import importlib.util
import json
import os
import subprocess
import sys

os.environ.setdefault("TQDM_DISABLE", "1")  # read when tqdm is first imported
HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)
REPO = os.path.abspath(os.path.join(PACKAGE, "..", "..", ".."))
sys.path.insert(0, PACKAGE)
sys.path.insert(0, os.path.join(REPO, "Clients", "python"))

FIXTURES = os.path.join(REPO, "Tests", "TailorEngineTests", "Fixtures")
TINY = os.path.join(FIXTURES, "tiny", "llama.gguf")
TASK_ADAPTER = os.path.join(FIXTURES, "lora", "llama-task-peft")
USER_ADAPTER = os.path.join(FIXTURES, "lora", "llama-user-peft")
TAILOR = os.environ.get("TAILOR_BIN", os.path.join(REPO, ".build", "debug", "tailor"))
SOCKET = os.environ.get("TAILOR_TEST_SOCKET")


def quiet():
    """The libraries' progress bars and deprecation warnings off, as the CLI turns them off."""
    from tailor_cluster.cli import _quiet

    _quiet()


def missing(*modules):
    """The first of `modules` that cannot be imported, or None."""
    for m in modules:
        if importlib.util.find_spec(m) is None:
            return m
    return None


_ML = ("torch", "transformers", "peft", "trl", "datasets")
MISSING_ML = missing(*_ML)
SKIP_ML = (
    (f"{MISSING_ML} is not installed (pip install \"torch==2.13.0+cpu\" ./Clients/python/tailor_cluster[ray])")
    if MISSING_ML
    else None
)
if not SKIP_ML and not os.access(TAILOR, os.X_OK):
    SKIP_ML = f"no tailor CLI at {TAILOR} (swift build, or set TAILOR_BIN)"


def tailor(*args, stdin=None, env=None):
    """The tailor CLI's standard output; a failure raises with its standard error. `env` adds
    variables to the CLI's environment."""
    done = subprocess.run(
        [TAILOR, *args], input=stdin, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )
    if done.returncode != 0:
        raise AssertionError(f"tailor {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def tailor_jsonl(*args):
    """The tailor CLI's JSONL output, parsed."""
    return [json.loads(line) for line in tailor(*args).splitlines() if line.strip()]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def cope_config(directory, *flags):
    """`tailor train cope --print-config` with `flags`, written to directory/cope.json."""
    path = os.path.join(directory, "cope.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(tailor("train", "cope", "--task", "t", "--print-config", *flags))
    return path


def load_tiny():
    """(model, tokenizer) of the tiny llama, as the package loads a GGUF base."""
    from tailor_cluster import load_base

    quiet()
    return load_base(TINY)


def load_user_model(user_adapter=USER_ADAPTER):
    """(π_user, tokenizer, formatter) over the tiny llama: the task adapter merged into the
    weights, `user_adapter` active on top (a PEFT model in eval mode; disabled, it is π_base),
    and Tailor's formatter at the model's context."""
    from peft import PeftModel

    from tailor_cluster import TailorFormatter, merge_task_adapter

    model, tokenizer = load_tiny()
    context = model.config.max_position_embeddings
    user = PeftModel.from_pretrained(merge_task_adapter(model, TASK_ADAPTER), user_adapter)
    user.eval()
    return user, tokenizer, TailorFormatter(tokenizer, context)
