"""Bringing the adapters home: uploads a run's adapters to a tailord through Tailor's Python
client (Clients/python), the task adapter first, then each finished user's as their current
adapter for the task."""

import os

from .pipeline import DONE

_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def adapter_files(directory):
    """(config JSON text, safetensors bytes) of a PEFT adapter directory."""
    paths = [os.path.join(directory, name) for name in _ADAPTER_FILES]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{directory} is not a PEFT adapter directory: no {os.path.basename(missing[0])}")
    with open(paths[0], encoding="utf-8") as f:
        config = f.read()
    with open(paths[1], "rb") as f:
        return config, f.read()


def push(out_dir, task, client, task_adapter=None, model="", log=print):
    """Imports `out_dir`'s adapters into the daemon `client` is connected to.

    The task adapter is `task_adapter` or OUT/task when the run trained one; each finished
    user's adapter (OUT/users/USER with its metrics) becomes that user's current adapter for
    `task`. Returns [(user or "", version)] in upload order."""
    uploaded = []
    task_dir = task_adapter or os.path.join(out_dir, "task")
    if os.path.isdir(task_dir):
        config, weights = adapter_files(task_dir)
        info = client.import_adapter(task, weights, peft_config_json=config, fmt="peft", model=model)
        uploaded.append(("", info.ref.version))
        log(f"task adapter: version {info.ref.version}")
    users_dir = os.path.join(out_dir, "users")
    for user in sorted(os.listdir(users_dir)) if os.path.isdir(users_dir) else []:
        directory = os.path.join(users_dir, user)
        if not os.path.isfile(os.path.join(directory, DONE)):
            continue
        config, weights = adapter_files(directory)
        info = client.import_adapter(task, weights, user=user, peft_config_json=config, fmt="peft", model=model)
        uploaded.append((user, info.ref.version))
        log(f"{user}: version {info.ref.version}")
    return uploaded
