"""`python -m pg COMMAND [FLAGS]`, and the installed commands `pg-train-reinforce` and the rest.

    python -m pg train-reinforce --steps 600
    python -m pg evaluate logs/episodic/RUN
    python -m pg train-supervised --help

Runs write to `logs/` in the current folder (`--logdir` to choose); the checkout's
`scripts/*.py` run the same programs and write to the checkout's `logs/`.
"""

from __future__ import annotations

import sys

from pg.commands import COMMANDS, launch

USAGE = (
    "usage: python -m pg COMMAND [FLAGS]   (python -m pg COMMAND --help lists its flags)\n"
    f"commands: {', '.join(COMMANDS)}"
)


def main() -> int:
    """`python -m pg`: the first argument names the program, the rest are its flags."""
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(USAGE)
        return 0
    command = sys.argv[1]
    if command not in COMMANDS:
        print(f"python -m pg: error: unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    # the program names itself in errors, --help and resume hints as the user called it
    sys.argv = [f"python -m pg {command}", *sys.argv[2:]]
    return launch(command)


# the installed commands `pg-<command>` (pyproject's [project.scripts])


def train_reinforce() -> int:
    return launch("train-reinforce")


def train_supervised() -> int:
    return launch("train-supervised")


def train_episodic() -> int:
    return launch("train-episodic")


def train_cartpole() -> int:
    return launch("train-cartpole")


def evaluate() -> int:
    return launch("evaluate")


def benchmark() -> int:
    return launch("benchmark")


if __name__ == "__main__":
    raise SystemExit(main())
