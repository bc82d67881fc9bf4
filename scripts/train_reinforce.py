"""Train the hunger policy without labels: REINFORCE on the hunger bandit.

The program is `pg/commands/train_reinforce.py` (`--help` lists its flags); installed, it is also
`pg-train-reinforce` and `python -m pg train-reinforce`. Its runs go to this checkout's `logs/`,
from whatever folder it is started.
"""

from pg.commands import checkout_logdir, launch

if __name__ == "__main__":
    raise SystemExit(launch("train-reinforce", logdir=checkout_logdir(__file__)))
