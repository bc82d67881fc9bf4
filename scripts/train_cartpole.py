"""CartPole-v1 with episodic REINFORCE: `train_episodic.py` with its default task.

The program is `pg/commands/train_episodic.py` (`--help` lists its flags); installed, it is also
`pg-train-cartpole` and `python -m pg train-cartpole`. Its runs go to this checkout's `logs/`,
from whatever folder it is started.
"""

from pg.commands import checkout_logdir, launch

if __name__ == "__main__":
    raise SystemExit(launch("train-cartpole", logdir=checkout_logdir(__file__)))
