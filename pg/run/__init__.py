"""The run machinery: everything a training run needs that is not the algorithm.

`Run` (`loop.py`) is what a trainer's loop talks to; behind it: settings and their checks
(`config.py`), flags and exit codes (`cli.py`), checkpoints (`checkpoint.py`), run folders and
TensorBoard events (`logger.py`), the progress display (`progress.py`), signals and the
non-finite guard (`stopping.py`), devices and torchrun (`parallel.py`). The algorithm in `pg/`
never needs to look in here to be understood.
"""

from pg.run.loop import Run

__all__ = ["Run"]
