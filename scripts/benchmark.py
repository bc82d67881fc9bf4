"""Measure pg: throughput, time to solution, logging, variance, CartPole, threads.

The program is `pg/commands/benchmark.py` (`--help` lists its flags); installed, it is also `pg-
benchmark` and `python -m pg benchmark`. Its runs go to this checkout's `logs/`, from whatever
folder it is started.
"""

from pg.commands import checkout_logdir, launch

if __name__ == "__main__":
    raise SystemExit(launch("benchmark", logdir=checkout_logdir(__file__)))
