"""Settings: one dataclass per trainer, a help line per field, checked when it is built.

Every trainer's settings (`SupervisedConfig`, `ReinforceConfig`, `EpisodicConfig`) extend
`RunSettings`, the fields every run shares: its seed, where it is recorded and how often. The
same class feeds the trainer's keyword arguments and the program's flags (`pg.run.cli` turns its
fields into `--kebab-case` options), so whatever a user can do from the command line they can do
from Python, with the same defaults and the same checks. A bad value raises `UsageError` with one
clear sentence.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "MAX_LR",
    "MAY_CHANGE",
    "RunSettings",
    "UsageError",
    "check_choice",
    "check_finite",
    "check_int",
    "check_optimizer",
    "check_positive",
    "check_same_batch",
    "check_sizes",
    "continued",
    "first_line",
    "parse_sizes",
    "require",
    "resolve",
    "setting",
]

C = TypeVar("C")

# beyond this Adam's step size overflows float32 inside torch.optim
MAX_LR = 1e6


class UsageError(ValueError):
    """Bad input from the user: a setting, a data file, a run folder. Programs exit 2 on it."""


def first_line(error: BaseException) -> str:
    """An exception's message in one line (torch's and gymnasium's can run to many), or its
    type's name: what a one-line error quotes of the error it replaces."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def setting(default: Any, help: str, **metadata: Any) -> Any:
    """A dataclass field with a help line (and optional `choices` or `type`) for `--help`."""
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


@dataclass
class RunSettings:
    """What every training run has: a seed, a place to record it, and how often it records."""

    seed: int = setting(0, "seeds the sampling generator and torch (initial weights)")
    logdir: str | None = setting(
        None, "root folder of the TensorBoard runs (None: no run folder, events or checkpoints)"
    )
    run_name: str | None = setting(
        None,
        "run folder name under LOGDIR/<trainer> (default: <time>-seed<SEED> and the settings "
        "that differ from the defaults)",
    )
    log_every: int = setting(10, "write TensorBoard scalars every N steps (and at the last step)")
    save_every: int = setting(
        1000, "save a checkpoint every N steps, and always at the end (0: only at the end)"
    )
    threads: int | None = setting(
        None, "torch CPU threads (default: chosen from the workload, 1 for small tensors)"
    )

    def __post_init__(self):
        check_int("seed", self.seed, 0)
        if self.threads is not None:
            check_int("threads", self.threads, 1, 1024)
        require(
            self.logdir is None or (isinstance(self.logdir, str) and self.logdir != ""),
            f"logdir must be a folder path or None, got {self.logdir!r}",
        )
        if self.logdir is not None:
            _require_text("logdir", self.logdir)
        if self.run_name is not None:
            name = self.run_name
            plain = isinstance(name, str) and name.strip() == name and name not in ("", ".", "..")
            require(
                plain and "/" not in name and "\\" not in name,
                f"run_name must be a plain folder name, got {name!r}",
            )
            _require_text("run_name", name)
        check_int("log_every", self.log_every, 1)
        check_int("save_every", self.save_every, 0)


# what a resume from Python may change: its budget, how it runs, and where it is recorded (a
# resume writes into its checkpoint's own folder whatever they say), not what it trains
MAY_CHANGE = frozenset({"steps", "total_steps", "threads", "figure", "logdir", "run_name"})


def resolve(
    cls: type[C],
    config: C | None,
    overrides: dict[str, Any],
    caller: str,
    saved: dict[str, Any] | None = None,
) -> C:
    """`config` (or the defaults of `cls`) with keyword `overrides` applied and checked.

    `saved` is a resumed run's settings: they are the run's, except those in `MAY_CHANGE`; a
    setting given here that differs from the run's (all of a `config`'s, the `overrides`) is
    refused, since changing, say, the learning rate half-way would start a different run.
    """
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
    if saved is not None:
        given = {**(dataclasses.asdict(base) if config is not None else {}), **overrides}
        run = continued(cls, saved, given, MAY_CHANGE)
        base = dataclasses.replace(base, **{k: v for k, v in run.items() if k not in overrides})
    return dataclasses.replace(base, **overrides) if overrides else base


def continued(
    cls: type, saved: dict[str, Any], given: dict[str, Any], may_change: AbstractSet[str]
) -> dict[str, Any]:
    """The settings of `cls` a resumed run continues with: its `saved` ones, each checked
    against its field's type and choices (a checkpoint edited by hand, say), except those in
    `may_change`, which keep what was `given`. A `given` value that differs from the run's is
    refused, as is a setting the run did not save (today's default may not be the run's)."""
    hints = typing.get_type_hints(cls)
    merged = {}
    for field in dataclasses.fields(cls):
        if field.name not in saved:
            raise UsageError(f"the run's saved settings lack {field.name}")
        value = saved[field.name]
        _check_saved(field, value, hints[field.name])
        if field.name in may_change:
            continue
        if field.name in given and given[field.name] != value:
            raise UsageError(
                f"{field.name} is {given[field.name]!r} here but {value!r} in the run being "
                "resumed; resume continues a run with its own settings"
            )
        merged[field.name] = value
    return merged


def _check_saved(field: dataclasses.Field, value: Any, hint: Any) -> None:
    """A saved setting of its field's declared type, and one of its choices if it has them:
    what the dataclass and argparse check of a value typed as a flag."""
    if not _has_type(value, hint):
        raise UsageError(
            f"the run's setting {field.name} is {value!r}, not of its type ({_type_name(hint)})"
        )
    choices = field.metadata.get("choices")
    if choices is not None and value not in choices:
        raise UsageError(
            f"the run's setting {field.name} is {value!r}, not one of "
            f"{', '.join(map(str, choices))}"
        )


def _has_type(value: Any, hint: Any) -> bool:
    """Whether a saved setting has its field's declared type (bool is not an int here)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_has_type(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint in (int, float) and isinstance(value, bool):
        return False
    if hint is float:
        return isinstance(value, (int, float))
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return isinstance(value, (tuple, list)) and all(_has_type(v, item) for v in value)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


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


def check_finite(name: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    require(ok, f"{name} must be a finite number, got {value!r}")


def check_choice(name: str, value: Any, choices) -> None:
    require(value in choices, f"{name} must be one of {', '.join(choices)}, got {value!r}")


def check_optimizer(optimizer: Any, lr: Any, choices: tuple[str, ...]) -> None:
    """An optimiser by name (`pg.optim`) and a learning rate it can take."""
    check_choice("optimizer", optimizer, choices)
    check_positive("lr", lr, MAX_LR)


# a layer at most this wide: its activations for a batch of 8,192 rows (or a few thousand
# environment steps) then stay within 512 MiB in float32
MAX_WIDTH = 1 << 14
MAX_WEIGHTS = 1 << 28  # at most this many weights between layers: 1 GiB in float32


def parse_sizes(text: str) -> tuple[int, ...] | str:
    """Layer widths from the command line: `64,64` is (64, 64); text that is not is handed on
    as it is, for `check_sizes` to refuse with the flag's name."""
    try:
        return tuple(int(width) for width in text.split(","))
    except ValueError:
        return text


def check_sizes(name: str, sizes: Any) -> None:
    """Hidden layer widths: positive integers, bounded by what a machine can hold, so that a
    network too big to build is refused before anything is built."""
    ok = isinstance(sizes, (tuple, list)) and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes
    )
    require(
        ok and len(sizes) > 0, f"{name} must be comma-separated positive integers, got {sizes!r}"
    )
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    require(
        max(sizes) <= MAX_WIDTH and weights <= MAX_WEIGHTS,
        f"{name} layers must be at most {MAX_WIDTH:,} wide with at most {MAX_WEIGHTS:,} weights "
        f"between them (1 GiB in float32), got {sizes!r}",
    )


def check_same_batch(first: str, a: Any, second: str, b: Any) -> None:
    """Two tensors of one batch: both (N,) with N >= 1, on one device. Plain ifs, no `require`:
    this runs at every training step, and its message is built only when it is needed."""
    if not (a.ndim == 1 and b.shape == a.shape and len(a) > 0):
        raise UsageError(
            f"{first} and {second} must both have shape (N,) with N >= 1, got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.device != b.device:
        raise UsageError(f"{first} is on {a.device} but {second} on {b.device}")


def _require_text(name: str, value: str) -> None:
    """A name that goes into files and TensorBoard must be text: bytes that are not UTF-8 reach
    Python as lone surrogates, which no JSON file or event can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"{name} must be UTF-8 text, got {value.encode('utf-8', 'backslashreplace').decode()}"
        ) from None
