"""Train an MLP policy on CartPole-v1 with episodic REINFORCE: `train_episodic.py`, default task.

    python scripts/train_cartpole.py                  # defaults: solves in seconds of training
    python scripts/train_cartpole.py --seed 2 --hidden 32,32

Every flag of `scripts/train_episodic.py` works here; see its --help.
"""

import signal
import sys

# Ctrl-C while torch is still importing ends the script quietly with 130, not a traceback
# (`cli.run` puts Python's own Ctrl-C handling back before the script's work begins)
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))

import runpy
from pathlib import Path

from pg.run import cli

main = runpy.run_path(
    str(Path(__file__).with_name("train_episodic.py")), run_name="train_episodic"
)["main"]

if __name__ == "__main__":
    raise SystemExit(cli.run(main))
