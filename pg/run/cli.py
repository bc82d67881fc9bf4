"""Command lines built from settings dataclasses, and the one way scripts end on bad input.

`parse(Args, argv)` turns each dataclass field into a `--kebab-case` option whose help line ends
with "(default: X)", and builds the dataclass, so its checks run before any work is done.
`run(main)` wraps a script's `main`: bad input ends with one line on stderr and exit code 2,
Ctrl-C with exit code 130, never with a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import signal
import sys
import types
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pg.run.settings import RunSettings, UsageError, continued
from pg.run.stopping import RunFault

__all__ = [
    "continue_run",
    "invocation",
    "parse",
    "program_name",
    "report_interruption",
    "require_own_module",
    "run",
]

C = TypeVar("C")


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line: no usage block above it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse(
    cls: type[C],
    argv: Sequence[str] | None = None,
    *,
    description: str | None = None,
    positional: Sequence[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> C:
    """Parse `argv` into the settings dataclass `cls`; exit 2 with one line on a bad value.

    Fields named in `positional` are arguments without a flag, in that order; `defaults` replace
    the dataclass's defaults (and `--help` shows them).
    """
    defaults = dict(defaults or {})
    parser = _Parser(
        description=as_started(description) if description else description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    hints = typing.get_type_hints(cls)
    flags = {}
    shared = {f.name for f in dataclasses.fields(RunSettings)}
    # the trainer's own flags first, then those every run has
    for field in sorted(dataclasses.fields(cls), key=lambda f: f.name in shared):
        flag = flags[field.name] = "--" + field.name.replace("_", "-")
        default = defaults.pop(field.name, field.default)
        kind = field.metadata.get("type") or _scalar(hints[field.name])
        help_line = field.metadata.get("help", "")
        if field.name in positional:
            flags[field.name] = field.name.upper()
            parser.add_argument(field.name, type=kind, metavar=field.name.upper(), help=help_line)
            continue
        if kind is bool:  # --flag, and --no-flag too where the default is on (or may change)
            both = default or field.metadata.get("negatable", False)
            action = argparse.BooleanOptionalAction if both else "store_true"
            parser.add_argument(flag, action=action, default=default, help=help_line)
            continue
        if "(default:" not in help_line:
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            help_line += f" (default: {shown})"
        choices = field.metadata.get("choices")
        parser.add_argument(
            flag,
            type=kind,
            default=default,
            choices=choices,
            metavar=None if choices else field.name.upper(),
            help=help_line,
        )
    if defaults:
        raise TypeError(f"{cls.__name__} has no field {', '.join(defaults)}")
    namespace = parser.parse_args(argv)
    try:
        return cls(**vars(namespace))
    except UsageError as e:
        parser.error(_speak_of_flags(str(e), flags))


def _speak_of_flags(message: str, flags: dict[str, str]) -> str:
    """Name the flags the user typed, not the fields behind them: the leading word if it is a
    field, and any snake_case field name anywhere (plain words like "data" stay as they are)."""
    first, _, rest = message.partition(" ")
    if first in flags:
        message = f"{flags[first]} {rest}"
    for name, flag in flags.items():
        if "_" in name:
            message = re.sub(rf"(?<![\w-]){name}\b", flag, message)
    return message


def _scalar(kind) -> type:
    """int, float, str or bool from a field's type; `X | None` gives X."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        (kind,) = [a for a in typing.get_args(kind) if a is not type(None)]
    return kind


def continue_run(
    args: C, saved: dict, may_change: set[str], argv: Sequence[str] | None = None
) -> C:
    """`args` for resuming a run: its saved settings, except the fields in `may_change`.

    Any other flag the user typed (in `argv`, default `sys.argv[1:]`) must agree with the saved
    run, even one typed at its default value; changing, say, the learning rate half-way would
    not continue the run but start a different one, so it is refused. Flags not typed take the
    run's values.
    """
    typed = _typed_fields(args, sys.argv[1:] if argv is None else argv)
    fields = {field.name for field in dataclasses.fields(args)}
    missing, unknown = sorted(fields - set(saved)), sorted(set(saved) - fields)
    if missing:  # a run from Python: its settings lack the program's own flags (--weight, say)
        raise UsageError(
            f"the run's settings lack {', '.join(missing)}: it was not saved by this program "
            "(a run started from Python resumes from Python)"
        )
    if unknown:
        raise UsageError(
            f"the run's settings name {', '.join(unknown)}, not settings of this program"
        )
    given = {name: getattr(args, name) for name in typed}
    return dataclasses.replace(args, **continued(type(args), saved, given, may_change))


def _typed_fields(args: Any, argv: Sequence[str]) -> set[str]:
    """The fields whose flag appears in `argv` (`--lr 10`, `--lr=10`, `--no-figure`)."""
    words = {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}
    typed = set()
    for field in dataclasses.fields(args):
        flag = field.name.replace("_", "-")
        if f"--{flag}" in words or f"--no-{flag}" in words:
            typed.add(field.name)
    return typed


def require_own_module(env_id: str, argv: Sequence[str] | None = None) -> None:
    """An env id read from a checkpoint is data: its `module:` part, which gymnasium would import,
    is honoured only when the user typed `--env-id` on the command line (`argv`, default
    `sys.argv[1:]`)."""
    typed = "--env-id" in {a.split("=", 1)[0] for a in (sys.argv[1:] if argv is None else argv)}
    if ":" in str(env_id) and not typed:
        raise UsageError(
            f"the run's environment {env_id!r} names a module to import; a checkpoint's settings "
            f"are data, so pass --env-id {env_id} yourself if you trust it"
        )


def invocation() -> str:
    """How to start this program again from the current folder: `python scripts/x.py` (as typed)
    or `pg-train-reinforce`."""
    program = sys.argv[0]
    if program.endswith(".py"):
        return f"python {shlex.quote(program)}"
    return Path(program).name


def as_started(text: str) -> str:
    """`text`'s examples (`python scripts/train_episodic.py ...`) as this program was started:
    as written from a checkout's script, with the installed commands (`pg-train-episodic ...`)
    otherwise, which a pip user without the checkout can run."""
    if sys.argv[0].endswith(".py"):
        return text
    text = re.sub(r"(torchrun .*?)scripts/(\w+)\.py", r"\1--no-python pg-\2", text)
    text = re.sub(r"python scripts/(\w+)\.py", r"pg-\1", text)
    return re.sub(r"pg-\w+", lambda m: m[0].replace("_", "-"), text)


def program_name() -> str:
    """The name errors begin with: `train_reinforce.py`, `pg-train-reinforce`, ..."""
    return Path(sys.argv[0]).name


def report_interruption(
    signum: int, done: int, start: int, total: int, total_flag: str, run_dir, saved
) -> int:
    """Say where an interrupted run left everything and how to go on; return its exit code.
    `start` is where it began: a run stopped there trained and saved nothing."""
    if done == start:
        name = signal.Signals(signum).name
        print(f"stopped by {name} before the first update: nothing was trained or saved")
        return 128 + signum
    print(
        f"stopped by {signal.Signals(signum).name} after {done} of {total}; checkpoint "
        f"{saved}, events flushed"
    )
    if run_dir is not None:
        print(
            f"resume with: {invocation()} --resume {shlex.quote(str(run_dir))} {total_flag} {total}"
        )
    return 128 + signum


def run(main: Callable[..., int | None], **defaults: Any) -> int:
    """Call a program's `main(**defaults)` and turn the ways it can end into exit codes."""
    try:
        if hasattr(signal, "pthread_sigmask"):  # a Ctrl-C held back during the imports lands here
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        # warnings wait for the end: shown after a run that succeeds, dropped before an error's
        # one line (a numpy or gymnasium warning about the very thing the error names)
        with warnings.catch_warnings(record=True) as caught:
            code = main(**defaults) or 0
        for w in caught:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        return code
    except UsageError as e:
        print(f"{program_name()}: error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # argparse: --help (0), or a bad flag (2) after its one line
        return e.code if isinstance(e.code, int) else 1
    except RunFault as e:  # e.g. training diverged: not bad input, but one clear line all the same
        print(f"{program_name()}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{program_name()}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:  # a full disk, a folder that vanished: the environment, not a bug
        print(f"{program_name()}: error: {e}", file=sys.stderr)
        return 1
