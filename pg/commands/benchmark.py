"""Measure pg: throughput, time to solution, logging, variance, CartPole, threads.

    # every section, about 20 minutes
    python scripts/benchmark.py
    # smaller runs, a few minutes
    python scripts/benchmark.py --quick
    python scripts/benchmark.py --only throughput,logging
    # the README's many-seed table
    python scripts/benchmark.py --only cartpole --seeds 20

Prints a Markdown table per section and writes them, with a description of the
machine, to LOGDIR/benchmark/<time>.md and .json. What each section measures:
`pg/benchmark.py`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from pg import benchmark
from pg.run import cli
from pg.run.config import UsageError, check_int, require, setting


@dataclass
class Args:
    only: str = setting(",".join(benchmark.SECTIONS), "comma-separated sections to run")
    quick: bool = setting(False, "smaller runs and fewer repeats: rougher figures, a few minutes")
    logdir: str = setting("logs", "results go to LOGDIR/benchmark/<time>.md and .json")
    seeds: int | None = setting(
        None, "seeds for the cartpole section (default: 10, 3 with --quick)"
    )

    def __post_init__(self):
        if self.seeds is not None:
            check_int("seeds", self.seeds, 1)
        unknown = [name for name in self.sections() if name not in benchmark.SECTIONS]
        require(
            not unknown,
            f"only must name sections among {', '.join(benchmark.SECTIONS)}, "
            f"got {', '.join(unknown)}",
        )

    def sections(self) -> list[str]:
        return [name.strip() for name in self.only.split(",") if name.strip()]


def main(**defaults: str) -> None:
    """The program: `defaults` replace flags' defaults (the checkout's scripts pass `logdir`)."""
    args = cli.parse(Args, description=__doc__, defaults=defaults)
    out = Path(args.logdir) / "benchmark"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {out}: {e.strerror}") from None

    machine = benchmark.machine()
    header = (
        "## pg benchmark\n\n"
        + "\n".join(f"- {key}: {value}" for key, value in machine.items())
        + "\n"
    )
    print(header)
    tables = benchmark.run_sections(args.sections(), args.quick, seeds=args.seeds)

    stem = out / f"{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}"
    stem.with_suffix(".md").write_text(
        header + "\n" + "\n\n".join(t.markdown() for t in tables) + "\n"
    )
    stem.with_suffix(".json").write_text(
        json.dumps(
            {"machine": machine, "quick": args.quick, "tables": [t.as_dict() for t in tables]},
            indent=2,
        )
        + "\n"
    )
    print(f"results: {stem}.md and {stem}.json")
