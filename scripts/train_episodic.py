"""Episodic REINFORCE on any Gymnasium task (CartPole-v1 by default).

`--help` lists the flags; the program is `pg/commands/train_episodic.py` (installed:
`pg-train-episodic`). Its runs go to this checkout's `logs/`, from whatever folder it is started.
"""

from pg_launch import launch

if __name__ == "__main__":
    raise SystemExit(launch("train_episodic", script=__file__))
