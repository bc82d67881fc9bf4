"""CartPole-v1 with episodic REINFORCE: `train_episodic.py` with its default task.

    # defaults: solves in seconds of training
    python scripts/train_cartpole.py
    python scripts/train_cartpole.py --seed 2 --hidden 32,32

Every flag of `scripts/train_episodic.py` works here; see its --help.
"""

import signal

# Ctrl-C waits while torch and the rest import (an import cut short can leave a module half made,
# to fail later); `cli.run` lets it through before the script's work begins: exit 130, one line
if hasattr(signal, "pthread_sigmask"):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

import runpy
from pathlib import Path

from pg.run import cli

main = runpy.run_path(
    str(Path(__file__).with_name("train_episodic.py")), run_name="train_episodic"
)["main"]

if __name__ == "__main__":
    raise SystemExit(cli.run(main))
