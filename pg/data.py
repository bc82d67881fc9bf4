"""Labelled data for supervised training: the article's table, or a user's CSV file.

The article's table gives the ideal output for four hunger values; those known labels are what
make plain backpropagation possible, and what reinforcement learning does not have:

    hunger   0.0  1.0  0.1  0.9
    p(B)     0    1    0    1

A CSV file has a header row with the columns `hunger` and `p_b` (others are ignored) and one
example per row, both values in [0, 1]. Anything else is refused with the file name and line.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch
from torch import Tensor

from pg.run.settings import UsageError

__all__ = ["ARTICLE_HUNGER", "ARTICLE_P_B", "DataError", "article_data", "load_csv"]

ARTICLE_HUNGER = (0.0, 1.0, 0.1, 0.9)
ARTICLE_P_B = (0.0, 1.0, 0.0, 1.0)
COLUMNS = ("hunger", "p_b")
MAX_BYTES = 64 * 2**20  # about two million rows: far more labels than a hunger policy needs


class DataError(UsageError):
    """A data file that cannot be used; the message names the file and, where known, the line."""


def article_data(dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """The article's table as (hunger, p_b), each of shape (4,)."""
    return torch.tensor(ARTICLE_HUNGER, dtype=dtype), torch.tensor(ARTICLE_P_B, dtype=dtype)


def load_csv(path: str | Path, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Read (hunger, p_b) tensors of shape (N,) from a CSV file with a `hunger,p_b` header."""
    path = Path(path)
    try:
        path.exists()
    except OSError as e:  # a name too long for the file system, say
        raise DataError(f"{str(path)[:80]}...: cannot be read ({e.strerror})") from None
    if (
        path.exists() and not path.is_dir() and not path.is_file()
    ):  # a FIFO would block, /dev/zero never end
        raise DataError(f"{path}: not a regular file; give a CSV file")
    if path.is_file() and path.stat().st_size > MAX_BYTES:
        raise DataError(
            f"{path}: {path.stat().st_size:,} bytes is more than the {MAX_BYTES // 2**20} "
            "MiB this loader reads"
        )
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: Excel's "CSV UTF-8" mark
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror})") from None
    except csv.Error as e:
        raise DataError(f"{path}: not a valid CSV file ({e})") from None

    numbered = [(n, row) for n, row in enumerate(rows, start=1) if any(c.strip() for c in row)]
    if not numbered:
        raise DataError(f"{path}: empty file; expected a header line 'hunger,p_b' and data rows")
    header_line, header = numbered[0]
    names = [c.strip() for c in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise DataError(
            f"{path}:{header_line}: missing column {', '.join(missing)}; "
            f"the header must name 'hunger' and 'p_b', got {','.join(names)}"
        )
    twice = [c for c in COLUMNS if names.count(c) > 1]
    if twice:
        raise DataError(
            f"{path}:{header_line}: column {', '.join(twice)} is named more than once; which one "
            "holds the data is not clear"
        )
    index = [names.index(c) for c in COLUMNS]
    if len(numbered) == 1:
        raise DataError(f"{path}: no data rows after the header")

    values: list[tuple[float, float]] = []
    for line, row in numbered[1:]:
        if len(row) < len(names):
            raise DataError(f"{path}:{line}: expected {len(names)} cells, got {len(row)}")
        values.append(tuple(_cell(path, line, name, row[i]) for name, i in zip(COLUMNS, index)))
    table = torch.tensor(values, dtype=dtype)  # (N, 2)
    return table[:, 0], table[:, 1]


def _cell(path: Path, line: int, name: str, text: str) -> float:
    """One value of column `name`: a finite number in [0, 1]."""
    try:
        if "_" in text:  # float() reads "0_1" as 1.0, a typo rather than a number
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise DataError(f"{path}:{line}: {name} must be a number, got {text.strip()!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise DataError(f"{path}:{line}: {name} must be in [0, 1], got {text.strip()}")
    return value
