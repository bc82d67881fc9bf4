"""Train the hunger policy on known labels: mean squared error and autograd.

The program is `pg/commands/train_supervised.py` (`--help` lists its flags); installed, it is also
`pg-train-supervised` and `python -m pg train-supervised`. Its runs go to this checkout's `logs/`,
from whatever folder it is started.
"""

from pg.commands import checkout_logdir, launch

if __name__ == "__main__":
    raise SystemExit(launch("train-supervised", logdir=checkout_logdir(__file__)))
