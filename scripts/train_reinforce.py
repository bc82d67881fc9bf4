"""Train the hunger policy without labels: REINFORCE on the hunger bandit.

`--help` lists the flags; the program is `pg/commands/train_reinforce.py` (installed:
`pg-train-reinforce`). Its runs go to this checkout's `logs/`, from whatever folder it is started.
"""

from pg_launch import launch

if __name__ == "__main__":
    raise SystemExit(launch("train_reinforce", script=__file__))
