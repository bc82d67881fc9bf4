"""Train the hunger policy on known labels: mean squared error and autograd.

`--help` lists the flags; the program is `pg/commands/train_supervised.py` (installed:
`pg-train-supervised`). Its runs go to this checkout's `logs/`, from whatever folder it is started.
"""

from pg_launch import launch

if __name__ == "__main__":
    raise SystemExit(launch("train_supervised", script=__file__))
