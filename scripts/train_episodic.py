"""Episodic REINFORCE on any Gymnasium task (CartPole-v1 by default).

The program is `pg/commands/train_episodic.py` (`--help` lists its flags); installed, it is also
`pg-train-episodic` and `python -m pg train-episodic`. Its runs go to this checkout's `logs/`,
from whatever folder it is started.
"""

from pg.commands import checkout_logdir, launch

if __name__ == "__main__":
    raise SystemExit(launch("train-episodic", logdir=checkout_logdir(__file__)))
