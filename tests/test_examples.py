"""The single-file examples (`examples/`): the same math as the package, so the same digits.

Each example is the package's default run without the run machinery, in one file that imports
no `pg`. These tests hold each one's printed result to the package's own default run, and both
to the golden numbers the README quotes: a change to the math on either side fails them.
"""

from __future__ import annotations

import ast
import runpy
import subprocess
import sys

import numpy as np
import pytest

import pg

from conftest import ROOT, read_scalars, run_main

EXAMPLES = ["hunger_supervised", "hunger_reinforce", "cartpole_reinforce"]


def run_example(name: str, capsys) -> list[str]:
    """The example's output lines, run in this process as `python examples/<name>.py` runs."""
    runpy.run_path(str(ROOT / "examples" / f"{name}.py"), run_name="__main__")
    return capsys.readouterr().out.splitlines()


def program_summary(name: str, monkeypatch, capsys, tmp_path) -> list[str]:
    """The package's default run of `scripts/<name>.py`: its summary lines."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        name, "--quiet", "--no-figure", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0, err
    return out.splitlines()


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_is_one_file_of_at_most_120_lines_that_imports_no_pg(name):
    source = (ROOT / "examples" / f"{name}.py").read_text()
    assert len(source.splitlines()) <= 120
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= {"torch", "numpy", "gymnasium", "math", "collections"}, imported


def test_the_supervised_example_prints_the_package_s_final_bias_to_the_digit(
    tmp_path, monkeypatch, capsys
):
    example = run_example("hunger_supervised", capsys)
    package = program_summary("train_supervised", monkeypatch, capsys, tmp_path)
    final = next(line for line in example if line.startswith("final bias"))
    assert final == package[0] == "final bias -10.000033   weight 20   MSE 5.72565e-08"
    # the p(B) table below it, to the digit
    table = example.index("hunger   p(B)      target")
    assert example[table : table + 5] == package[1:6]


def test_the_reinforce_example_prints_the_package_s_final_bias_and_rewards_to_the_digit(
    tmp_path, monkeypatch, capsys
):
    example = run_example("hunger_reinforce", capsys)
    package = program_summary("train_reinforce", monkeypatch, capsys, tmp_path)
    assert (
        example[0] == package[0] == "final bias -9.959941   weight 20   (optimal bias -10.000000)"
    )
    assert package[1].startswith(example[1])  # average reward, exact J, the optimum
    assert example[1].split()[2] == "0.862081" and example[1].split()[-1] == "0.861380"


@pytest.mark.slow  # a whole interpreter, and CartPole trained twice (about 6 s each here)
def test_the_cartpole_example_solves_it_in_the_package_s_episodes_and_steps(tmp_path):
    done = subprocess.run(  # as a user runs it, from its own interpreter: pg is not imported
        [sys.executable, str(ROOT / "examples" / "cartpole_reinforce.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0 and "pg" not in done.stderr, done.stderr
    example = done.stdout.splitlines()
    package = pg.train_episodic(pg_default_cartpole_policy(), seed=1, logdir=str(tmp_path))
    assert (
        example[0]
        == f"CartPole-v1 solved: mean return {package.mean_return:.1f} over the last 100 episodes"
    )
    assert example[1] == f"after {package.episodes} episodes, {package.env_steps} environment steps"
    assert (package.episodes, package.env_steps) == (608, 124391)
    # docs/tensorboard.md: TensorBoard's default view (5th to 95th percentile) shows the 500s
    scalars = read_scalars(package.run_dir)
    returns = [v for _, v in scalars["charts/episodic_return"]]
    means = [v for _, v in scalars["charts/mean_return_100"]]
    assert float(np.quantile(returns, 0.95)) == 500.0
    assert (round(float(np.quantile(means, 0.95)), 1), round(means[-1], 1)) == (426.2, 478.2)


def pg_default_cartpole_policy() -> pg.MLPPolicy:
    """The policy `scripts/train_episodic.py` builds for CartPole with its defaults (seed 1)."""
    import torch

    torch.manual_seed(1)
    return pg.MLPPolicy(4, 2, hidden=(64, 64))
