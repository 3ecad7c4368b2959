"""Many users at once: one Ray task per user, resumable, with per-user metrics.

The output directory is the run's whole state, so a run that died (a killed worker, a lost
node, a stopped driver) is resumed by running it again:

    OUT/task/            the task adapter, when the run trains it (--task-data)
    OUT/users/USER/      each user's PEFT adapter and metrics.json, renamed into place whole
    OUT/run.jsonl        one event per line: started (with host and pid), finished, failed

A user whose directory holds metrics.json is finished and skipped. On a multi-node cluster OUT
must be storage every node sees.
"""

import json
import os
import re
import shutil
import socket
import time

from .pipeline import DONE, personalize_user, read_jsonl, train_task_adapter

_USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


def read_users(path):
    """The users of a users.jsonl: {"user", "history", "pairs"?}, where history and pairs are
    TRL rows inline or the path of a JSONL file of them (relative to users.jsonl)."""
    root = os.path.dirname(os.path.abspath(path))
    users, seen = [], set()
    for n, spec in enumerate(read_jsonl(path), 1):
        user = spec.get("user")
        if not isinstance(user, str) or not _USER_ID.match(user) or user in (".", ".."):
            raise ValueError(f"{path}:{n}: 'user' must be 1-128 letters, digits or ._@+- (a directory name)")
        if user in seen:
            raise ValueError(f"{path}:{n}: user {user!r} is listed twice")
        seen.add(user)
        rows = {}
        for key in ("history", "pairs"):
            value = spec.get(key, [])
            if isinstance(value, str):
                value = read_jsonl(os.path.join(root, value))
            if not isinstance(value, list):
                raise ValueError(f"{path}:{n}: '{key}' must be a list of rows or a JSONL path")
            rows[key] = value
        if not rows["history"]:
            raise ValueError(f"{path}:{n}: user {user!r} has no history")
        users.append({"user": user, **rows})
    return users


def record(events, **event):
    """Appends one event line to the run's log (one write, so lines from workers never mix)."""
    event["time"] = time.time()
    line = (json.dumps(event, sort_keys=True) + "\n").encode()
    fd = os.open(events, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def finished(directory):
    """Whether `directory` holds a complete adapter (its metrics are written last)."""
    return os.path.isfile(os.path.join(directory, DONE))


def _personalize(spec, base, config, out_dir, task_adapter, threads, events):
    """One user's task, run by a Ray worker."""
    import torch

    torch.set_num_threads(threads)
    user = spec["user"]
    record(events, user=user, state="started", host=socket.gethostname(), pid=os.getpid())
    started = time.time()
    metrics = personalize_user(
        user,
        spec["history"],
        base,
        config,
        os.path.join(out_dir, "users", user),
        pairs=spec["pairs"],
        task_adapter=task_adapter,
        log=lambda *_: None,
    )
    record(events, user=user, state="finished", seconds=time.time() - started)
    return metrics


def _train_task(items, base, config, out_dir, threads, events):
    import torch

    torch.set_num_threads(threads)
    record(events, user="", state="started", stage="tam", host=socket.gethostname(), pid=os.getpid())
    metrics = train_task_adapter(items, base, config, os.path.join(out_dir, "task"), log=lambda *_: None)
    record(events, user="", state="finished", stage="tam", seconds=metrics["seconds"])
    return metrics


def run(
    users_file,
    base,
    config,
    out_dir,
    workers=2,
    task_adapter=None,
    task_data=None,
    task_config=None,
    cpus_per_user=1,
    gpus_per_user=0,
    address=None,
    retries=0,
    log=print,
):
    """Personalizes every user of `users_file` not yet finished in `out_dir`, `workers` at a time.

    - task_adapter: an existing task adapter (PEFT directory); or task_data (a TRL SFT JSONL of
      other users' items) with task_config (`tailor train tam --print-config`) to train it first.
    - address: a Ray cluster to join (None starts a local one with workers × cpus_per_user CPUs).
    - retries: Ray's retries of a user's task after its worker dies (0: record it failed).

    Returns {"finished": [...], "skipped": [...], "failed": {user: error}}."""
    import ray

    users = read_users(users_file)
    out_dir = os.path.abspath(out_dir)
    os.makedirs(os.path.join(out_dir, "users"), exist_ok=True)
    # A worker killed while writing leaves its temporary directory; none is being written now.
    for stale in (d for d in os.listdir(os.path.join(out_dir, "users")) if d.startswith(".tmp-")):
        shutil.rmtree(os.path.join(out_dir, "users", stale), ignore_errors=True)
    events = os.path.join(out_dir, "run.jsonl")
    if not ray.is_initialized():
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        paths = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ray.init(
            address=address,
            num_cpus=None if address else workers * cpus_per_user,
            num_gpus=None if address else (workers * gpus_per_user or None),
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}},
        )
    options = dict(num_cpus=cpus_per_user, num_gpus=gpus_per_user, max_retries=retries)
    threads = max(1, cpus_per_user)

    if task_data and not task_adapter:
        task_adapter = os.path.join(out_dir, "task")
        if not finished(task_adapter):
            if not task_config:
                raise ValueError("training the task adapter needs task_config (`tailor train tam --print-config`)")
            log("training the task adapter")
            ray.get(
                ray.remote(**options)(_train_task).remote(
                    read_jsonl(task_data), base, task_config, out_dir, threads, events
                )
            )

    summary = {"finished": [], "skipped": [], "failed": {}}
    pending = {}
    remote = ray.remote(**options)(_personalize)
    for spec in users:
        if finished(os.path.join(out_dir, "users", spec["user"])):
            summary["skipped"].append(spec["user"])
            continue
        ref = remote.remote(spec, base, config, out_dir, task_adapter, threads, events)
        pending[ref] = spec["user"]
    log(f"{len(pending)} users to personalize, {len(summary['skipped'])} already done")
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        user = pending.pop(done[0])
        try:
            metrics = ray.get(done[0])
            summary["finished"].append(user)
            log(f"{user}: finished in {metrics['seconds']['total']:.1f} s")
        except Exception as error:  # a worker's exception or death, reported per user
            message = f"{type(error).__name__}: {str(error).strip().splitlines()[-1] if str(error).strip() else ''}"
            summary["failed"][user] = message
            record(events, user=user, state="failed", error=message)
            log(f"{user}: failed ({message})")
    return summary
