"""Settings: one dataclass per entry point, a help line per field, checked when it is built.

Each trainer has a settings dataclass (`SupervisedConfig`, ...). The same class feeds the
trainer's keyword arguments and the script's flags (`pg.run.cli` turns its fields into
`--kebab-case` options), so whatever a user can do from the command line they can do from
Python, with the same defaults and the same checks. A bad value raises `UsageError` with one
clear sentence.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar

__all__ = [
    "UsageError",
    "setting",
    "resolve",
    "require",
    "check_int",
    "check_positive",
    "check_finite",
    "check_choice",
    "check_run_name",
    "check_logdir",
    "check_run_settings",
]

C = TypeVar("C")


class UsageError(ValueError):
    """Bad input from the user: a setting, a data file, a run folder. Scripts exit 2 on it."""


def setting(default: Any, help: str, **metadata: Any) -> Any:
    """A dataclass field with a help line (and optional `choices`) for `--help`."""
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def resolve(cls: type[C], config: C | None, overrides: dict[str, Any], caller: str) -> C:
    """`config` (or the defaults of `cls`) with keyword `overrides` applied and checked."""
    base = cls() if config is None else config
    if not isinstance(base, cls):
        raise TypeError(f"{caller}(config=...) must be a {cls.__name__}, got {type(base).__name__}")
    known = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(
            f"{caller}() got unknown setting {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    return dataclasses.replace(base, **overrides) if overrides else base


def require(ok: bool, message: str) -> None:
    if not ok:
        raise UsageError(message)


def check_int(name: str, value: Any, minimum: int, maximum: int = 2**62) -> None:
    """An integer in [minimum, maximum]; the default bound keeps seeds and counts within what
    torch, numpy and float arithmetic take (10**400 steps would overflow a float)."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    require(ok and value >= minimum, f"{name} must be an integer >= {minimum}, got {value!r}")
    require(value <= maximum, f"{name} must be at most {maximum:,}, got a larger number")


def check_positive(name: str, value: Any, maximum: float = math.inf) -> None:
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= maximum
    )
    bound = f" and <= {maximum:g}" if math.isfinite(maximum) else ""
    require(ok, f"{name} must be a finite number > 0{bound}, got {value!r}")


# beyond this Adam's step size overflows float32 inside torch.optim (a traceback, not an error)
MAX_LR = 1e6


def check_finite(name: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    require(ok, f"{name} must be a finite number, got {value!r}")


def check_choice(name: str, value: Any, choices) -> None:
    require(value in choices, f"{name} must be one of {', '.join(choices)}, got {value!r}")


def check_run_name(value: Any) -> None:
    """A run name is one folder name: no separators, not '.' or '..'."""
    if value is None:
        return
    ok = isinstance(value, str) and value.strip() == value and value not in ("", ".", "..")
    require(
        ok and "/" not in value and "\\" not in value,
        f"run_name must be a plain folder name, got {value!r}",
    )
    _require_text("run_name", value)


def check_logdir(value: Any) -> None:
    """The root of the run folders: a non-empty path, or None for no logging."""
    require(
        value is None or (isinstance(value, str) and value != ""),
        f"logdir must be a folder path or None, got {value!r}",
    )
    if value is not None:
        _require_text("logdir", value)


def _require_text(name: str, value: str) -> None:
    """A name that goes into files and TensorBoard must be text: bytes that are not UTF-8 reach
    Python as lone surrogates, which no JSON file or event can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"{name} must be UTF-8 text, got {value.encode('utf-8', 'backslashreplace').decode()}"
        ) from None


def check_run_settings(config: Any) -> None:
    """The settings every trainer shares: seed, logdir, run_name, log_every, save_every, threads."""
    check_int("seed", config.seed, 0)
    if config.threads is not None:
        check_int("threads", config.threads, 1)
        require(config.threads <= 1024, f"threads must be at most 1024, got {config.threads}")
    check_logdir(config.logdir)
    check_run_name(config.run_name)
    check_int("log_every", config.log_every, 1)
    check_int("save_every", config.save_every, 0)
