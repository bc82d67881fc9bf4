"""Starts pg's programs: the installed `pg-*` commands and a checkout's `scripts/*.py`.

    pg-train-reinforce --steps 600          (installed; runs go to ./logs)
    python scripts/train_reinforce.py       (a checkout; runs go to the checkout's logs/)

Importing torch takes seconds. An import cut short by Ctrl-C can leave a module half made and
ends in a traceback, so Ctrl-C is held back until the program's imports are done; the program
then lets it through (`pg.run.cli.run`), and a Ctrl-C that came early ends it with one line and
exit code 130. Once the program has returned, its work is saved and its events closed: a Ctrl-C
while Python shuts down (torch's exit handlers) ends the process at once, without a traceback.
Python's own start-up, before this module (some tens of milliseconds), no program can guard; this
module imports only what Python has already loaded by then, so it adds nothing to that. It sits
outside the `pg` package because importing anything from `pg` imports torch.
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["launch"]


def launch(program: str, script: str | None = None) -> int:
    """Run `pg.commands.<program>` on the command line and return its exit code. `script`, the
    checkout's script that started it, sends the runs to that checkout's `logs/` folder."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    import importlib

    from pg.run import cli

    module = importlib.import_module(f"pg.commands.{program}")
    importable_here()
    defaults = {"logdir": checkout_logdir(script)} if script is not None else {}
    code = cli.run(module.main, **defaults)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # done: from here a Ctrl-C just ends it
    return code


def importable_here() -> None:
    """Make the current folder's modules importable, as `python -m` and a script beside them do,
    so that `--env-id my_envs:MyEnv-v0` finds `my_envs.py` where the program was started. The
    folder goes last on the path: it adds modules, it never shadows one."""
    try:
        here = os.getcwd()
    except OSError:  # the current folder is gone: nothing in it to import
        return
    if here not in sys.path:
        sys.path.append(here)


def checkout_logdir(script: str) -> str:
    """The `logs/` folder beside the `scripts/` folder that holds `script`, so that a run started
    from inside `scripts/` lands in the checkout's `logs/`: relative to the current folder where
    that is short (`logs`, `../logs`), else in full."""
    from pathlib import Path

    logs = Path(script).resolve().parents[1] / "logs"
    try:
        relative = os.path.relpath(logs)
    except OSError:  # the current folder is gone; the full path still works
        return str(logs)
    return relative if relative.count("..") <= 1 else str(logs)


# the installed commands (pyproject.toml's [project.scripts])


def train_reinforce() -> int:
    return launch("train_reinforce")


def train_supervised() -> int:
    return launch("train_supervised")


def train_episodic() -> int:
    return launch("train_episodic")


def evaluate() -> int:
    return launch("evaluate")
