"""The run machinery: everything a training run needs that is not the algorithm.

`Run` (`loop.py`) is the helper a trainer's loop calls; behind it: the settings every run has
and their checks (`settings.py`), flags and exit codes (`cli.py`), checkpoints
(`checkpoint.py`), run folders and TensorBoard events (`logger.py`), the progress display
(`progress.py`), signals and the non-finite guard (`stopping.py`), devices and torchrun
(`parallel.py`). The algorithm in `pg/`
never needs to look in here to be understood: each trainer's step calls `Run` for what to log
and when, and nothing here calls back into a trainer.
"""

from pg.run.loop import Run, RunResult

__all__ = ["Run", "RunResult"]
