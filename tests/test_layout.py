"""How the package reads: each trainer shows its whole update in one function, the run machinery
takes no callbacks, no function is too long to read, and modules import each other one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "pg"
TRAINERS = {
    "supervised": "supervised_step",
    "reinforce": "reinforce_step",
    "episodic": "episodic_step",
}


def modules() -> dict[str, ast.Module]:
    """Every module of the package by dotted name (`pg.run.loop`; a package is its __init__)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text())
    return found


def calls(function: ast.FunctionDef) -> set[str]:
    """The names of the methods and functions `function` calls: `optimizer.step()` is `step`."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            target = node.func
            names.add(
                target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            )
    return names


@pytest.mark.parametrize("trainer, step", TRAINERS.items())
def test_one_function_of_each_trainer_holds_the_whole_update(trainer, step):
    tree = modules()[f"pg.{trainer}"]
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    update = {"zero_grad", "backward", "average_gradients", "check_finite", "step", "log"}
    holding = [f.name for f in functions if update <= calls(f)]
    assert holding == [step]
    (function,) = [f for f in functions if f.name == step]
    assert function.end_lineno - function.lineno + 1 <= 40  # one screen, signature included
    assert not any(isinstance(node, ast.Lambda) for node in ast.walk(tree))


def test_no_function_in_the_package_is_longer_than_60_lines():
    long = [
        f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name, tree in modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 60
    ]
    assert long == []


def test_the_run_machinery_never_calls_back_into_a_trainer_or_steps_an_optimiser():
    for name, tree in modules().items():
        if name.startswith("pg.run"):
            imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            assert not {f"pg.{trainer}" for trainer in TRAINERS} & imported, name
            for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
                assert "step" not in calls(function) or name != "pg.run.loop", function.name


def imports_of(name: str, tree: ast.Module) -> set[str]:
    """The package's modules `name` imports, anywhere in it, and the packages they sit in (but
    its own packages, which Python has begun to import before `name` itself)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            found |= {".".join(parts[:k]) for k in range(2, len(parts) + 1)}
            if target == "pg":
                found.add("pg")
    parts = name.split(".")
    return found - {".".join(parts[:k]) for k in range(1, len(parts))}


def test_modules_import_each_other_one_way_without_a_cycle():
    trees = modules()
    graph = {name: imports_of(name, tree) & (set(trees) - {name}) for name, tree in trees.items()}
    visiting, done = set(), set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in visiting, " -> ".join(path + [name])
        if name in done:
            return
        visiting.add(name)
        for other in sorted(graph[name]):
            visit(other, path + [name])
        visiting.discard(name)
        done.add(name)

    for name in sorted(trees):
        if name != "pg":  # the package's own __init__ re-exports everything: it imports last
            visit(name, [])


def test_nothing_in_the_repository_writes_events_without_summary_writer():
    tracked = [*PACKAGE.rglob("*.py"), ROOT / "pyproject.toml", *(ROOT / "scripts").glob("*.py")]
    assert not [p for p in tracked if "crc32c" in Path(p).read_text()]
    assert "SummaryWriter(" in (PACKAGE / "run" / "logger.py").read_text()


def test_a_hanging_test_fails_on_its_timeout_instead_of_holding_the_suite(tmp_path):
    import re
    import subprocess
    import sys

    timeout = re.search(r"^timeout = (\d+)$", (ROOT / "pyproject.toml").read_text(), re.M)
    assert timeout and 60 <= int(timeout[1]) <= 900  # the suite's own per-test limit
    hang = "import time\n\n\ndef test_hangs():\n    time.sleep(120)\n"
    (tmp_path / "test_hang.py").write_text(hang)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0"]
        + ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path)]
        + ["-o", "timeout=2", str(tmp_path / "test_hang.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "Timeout" in done.stdout + done.stderr, done.stdout
