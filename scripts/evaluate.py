"""Act with a trained policy: load a run's policy and run episodes with it.

`--help` lists the flags; the program is `pg/commands/evaluate.py` (installed: `pg-evaluate`).
"""

from pg_launch import launch

if __name__ == "__main__":
    raise SystemExit(launch("evaluate"))
