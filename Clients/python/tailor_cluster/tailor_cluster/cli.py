"""tailor-cluster: personalize many users with TRL, PEFT and Ray, then bring the adapters home.

    tailor-cluster run --users users.jsonl --base MODEL --config cope.json --out OUT --workers N
    tailor-cluster personalize --user U --history U.sft.jsonl --base MODEL --config cope.json --out DIR
    tailor-cluster push OUT --task TASK [--socket PATH]

`cope.json` is `tailor train cope --print-config`; the data is `tailor data export --format
trl-sft|trl-dpo`. Exit status: 0 when every user finished, 1 when one failed (the others' adapters
are kept; run again to resume), 2 for bad input.
"""

import argparse
import json
import os
import sys
import warnings


def _quiet():
    """The trainers' progress and deprecation chatter off: each stage logs one line."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def _progress(line):
    """Progress goes to standard error; standard output holds only the JSON result."""
    print(line, file=sys.stderr, flush=True)


def _parser():
    p = argparse.ArgumentParser(prog="tailor-cluster", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="personalize every user of a users.jsonl, as Ray tasks")
    run.add_argument("--users", required=True, help='JSONL: {"user", "history", "pairs"?} per line')
    run.add_argument("--base", required=True, help="a GGUF file, a model directory or a hub id")
    run.add_argument("--config", required=True, help="`tailor train cope --print-config` output")
    run.add_argument("--out", required=True, help="the run's directory (resumed when it exists)")
    run.add_argument("--workers", type=int, default=2, help="users trained at once on a local Ray (default 2)")
    run.add_argument("--task-adapter", help="the task adapter (PEFT directory) under every user's")
    run.add_argument("--task-data", help="train the task adapter first on this TRL SFT JSONL")
    run.add_argument("--task-config", help="`tailor train tam --print-config` output, with --task-data")
    run.add_argument("--cpus-per-user", type=int, default=1, help="CPUs (torch threads) per user (default 1)")
    run.add_argument("--gpus-per-user", type=float, default=0, help="GPUs per user (default 0)")
    run.add_argument("--address", help="a Ray cluster to join (default: start a local one)")
    run.add_argument("--retries", type=int, default=0, help="Ray retries of a user whose worker died")

    one = sub.add_parser("personalize", help="personalize one user in this process")
    one.add_argument("--user", required=True)
    one.add_argument("--history", required=True, help="TRL SFT JSONL (`tailor data export --format trl-sft`)")
    one.add_argument("--pairs", help="TRL DPO JSONL (`tailor data export --format trl-dpo`)")
    one.add_argument("--base", required=True)
    one.add_argument("--config", required=True)
    one.add_argument("--out", required=True, help="the adapter's directory")
    one.add_argument("--task-adapter")

    push = sub.add_parser("push", help="import a run's adapters into a tailord")
    push.add_argument("out", help="the run's directory")
    push.add_argument("--task", required=True, help="the task the adapters are for")
    push.add_argument("--socket", help="tailord's socket (default: as the tailor CLI finds it)")
    push.add_argument("--task-adapter", help="the task adapter to upload (default: OUT/task when present)")
    push.add_argument("--model", default="", help="the daemon's model id (default: its only one)")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    _quiet()
    try:
        if args.command == "run":
            from .runner import run

            summary = run(
                args.users,
                args.base,
                args.config,
                args.out,
                workers=args.workers,
                task_adapter=args.task_adapter,
                task_data=args.task_data,
                task_config=args.task_config,
                cpus_per_user=args.cpus_per_user,
                gpus_per_user=args.gpus_per_user,
                address=args.address,
                retries=args.retries,
                log=_progress,
            )
            print(json.dumps(summary, sort_keys=True))
            return 1 if summary["failed"] else 0
        if args.command == "personalize":
            from .pipeline import personalize_user, read_jsonl

            metrics = personalize_user(
                args.user,
                read_jsonl(args.history),
                args.base,
                args.config,
                args.out,
                pairs=read_jsonl(args.pairs) if args.pairs else (),
                task_adapter=args.task_adapter,
                log=_progress,
            )
            print(json.dumps(metrics["seconds"], sort_keys=True))
            return 0
        from tailor_client import Client, TailorError
        from tailor_client.client import default_socket_path

        from .push import push

        try:
            with Client(args.socket or default_socket_path()) as client:
                push(args.out, args.task, client, task_adapter=args.task_adapter, model=args.model, log=_progress)
        except (TailorError, OSError) as error:
            print(f"tailor-cluster: push: {error}", file=sys.stderr)
            return 1
        return 0
    except (ValueError, FileNotFoundError, json.JSONDecodeError) as error:
        print(f"tailor-cluster: {error}", file=sys.stderr)
        return 2
    except ImportError as error:
        print(
            f"tailor-cluster: {error.name or error} is not installed "
            "(pip install './Clients/python/tailor_cluster[ray]'; push also needs ./Clients/python)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
