"""Act with a trained policy: load a run's policy and run episodes with it.

The program is `pg/commands/evaluate.py` (`--help` lists its flags); installed, it is also `pg-
evaluate` and `python -m pg evaluate`.
"""

from pg.commands import launch

if __name__ == "__main__":
    raise SystemExit(launch("evaluate"))
