"""The command-line programs, one module each: its flags (`Args`), and `main`, which builds,
trains and prints a summary.

A program starts through `launch`, however it is called: `python scripts/train_reinforce.py`
from a checkout, the installed command `pg-train-reinforce`, or `python -m pg train-reinforce`.
Importing this package loads nothing heavy; `launch` holds Ctrl-C back while torch and the rest
import (an import cut short can leave a module half made, to fail later), and `cli.run` lets it
through before the program's work begins, so an early Ctrl-C ends it with one line, exit 130.
"""

from __future__ import annotations

import importlib
import os
import signal
from pathlib import Path

__all__ = ["COMMANDS", "checkout_logdir", "launch"]

# command name -> module in this package; train-cartpole is train-episodic, whose default task
# is CartPole-v1
COMMANDS = {
    "train-reinforce": "train_reinforce",
    "train-supervised": "train_supervised",
    "train-episodic": "train_episodic",
    "train-cartpole": "train_episodic",
    "evaluate": "evaluate",
    "benchmark": "benchmark",
}


def launch(command: str, **defaults: str) -> int:
    """Run the program `command` on `sys.argv` and return its exit code; `defaults` replace the
    defaults of its flags (the checkout's scripts pass their own `logdir`)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    module = importlib.import_module(f"pg.commands.{COMMANDS[command]}")
    from pg.run import cli

    return cli.run(lambda: module.main(**defaults))


def checkout_logdir(script: str) -> str:
    """The `logs/` folder beside the `scripts/` folder that holds `script`, so a run started from
    inside `scripts/` lands in the checkout's `logs/` (not in `scripts/logs/`). Given relative
    to the current folder where that is short (`logs`, `../logs`), else in full."""
    logs = Path(script).resolve().parents[1] / "logs"
    try:
        relative = os.path.relpath(logs)
    except OSError:  # the current folder is gone; the full path still works
        return str(logs)
    return relative if relative.count("..") <= 1 else str(logs)
