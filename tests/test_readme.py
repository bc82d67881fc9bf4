"""The README and the docs say what the code does: every complete Python example runs as printed,
and every output they quote after a command is what that command prints today.

Complete examples start with their imports; the short excerpts of the trainers' code that the
README quotes (`p_b = policy(hunger)` ...) are not programs on their own and are skipped.
"""

from __future__ import annotations

import re
import shlex

import pytest

from conftest import ROOT, run_main

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [
    (page.name, block)
    for page in PAGES
    for block in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    if block.startswith("import ")
]


def quoted_runs(page) -> list[tuple[str, list[str]]]:
    """Each `python scripts/<program>.py FLAGS` line of a ```bash block followed by `# output`
    lines, or a `$ python ...` line of a ```text block followed by its output: (command, lines)."""
    runs = []
    for kind, block in re.findall(r"```(bash|text)\n(.*?)```", page.read_text(), flags=re.S):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            command = line.removeprefix("$ ") if kind == "text" else line
            if not (
                command.startswith("python scripts/") and (kind == "bash") != line.startswith("$")
            ):
                continue
            output = []
            for after in lines[i + 1 :]:
                if kind == "bash" and after.startswith("# "):
                    output.append(after[2:])
                elif kind == "text" and after and not after.startswith("$ "):
                    output.append(after)
                else:
                    break
            if output:
                runs.append((command.split("  #")[0].strip(), output))
    return runs


def slow_if_long(page: str, command: str, output: list[str]):
    """The case as a test parameter, marked slow when it trains for thousands of steps."""
    words = command.split()
    steps = int(words[words.index("--steps") + 1]) if "--steps" in words else 0
    return pytest.param(page, command, output, marks=[pytest.mark.slow] if steps > 1000 else [])


HUNGER_RUNS = [
    slow_if_long(page.name, command, output)
    for page in PAGES
    for command, output in quoted_runs(page)
    if "train_supervised.py" in command or "train_reinforce.py" in command
]


def test_the_readme_has_complete_python_examples_and_quoted_outputs():
    assert sum(name == "README.md" for name, _ in BLOCKS) >= 2
    assert len([run for run in HUNGER_RUNS if run.values[0] == "README.md"]) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_a_python_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything an example writes lands in a temporary folder
    name, block = BLOCKS[index]
    exec(compile(block, f"{name} python block {index}", "exec"), {"__name__": "__readme__"})


@pytest.mark.parametrize("page, command, output", HUNGER_RUNS)
def test_a_quoted_hunger_command_prints_what_the_page_says(
    page, command, output, tmp_path, monkeypatch, capsys
):
    words = shlex.split(command)
    program = words[1].removeprefix("scripts/").removesuffix(".py")
    (tmp_path / "labels.csv").write_text("hunger,p_b\n0.1,0\n0.9,2\n")  # the page's bad file
    monkeypatch.chdir(tmp_path)
    as_quoted = "--walkthrough" in words or output[0].startswith(f"{program}.py: error")
    extra = [] if as_quoted else ["--quiet", "--no-figure"]  # the summary is the same
    code, out, err = run_main(program, *words[2:], *extra, monkeypatch=monkeypatch, capsys=capsys)
    printed = (out + err).splitlines()
    assert all(line in printed for line in output), (command, printed)


@pytest.mark.slow  # the default CartPole run, about 6 s of training here
def test_the_quoted_cartpole_run_and_its_evaluation_print_what_the_readme_says(
    tmp_path, monkeypatch, capsys
):
    runs = dict(quoted_runs(ROOT / "README.md"))
    train, evaluate = (
        runs["python scripts/train_episodic.py"],
        runs["python scripts/evaluate.py logs/episodic/RUN"],
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main("train_episodic", "--quiet", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    seconds = re.compile(r"[\d.]+ s of training")  # the time is the machine's
    printed = [seconds.sub("s of training", line) for line in out.splitlines()]
    assert all(seconds.sub("s of training", line) in printed for line in train), printed
    (run_dir,) = (tmp_path / "logs" / "episodic").iterdir()
    code, out, err = run_main("evaluate", str(run_dir), monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0 and out.splitlines() == evaluate, out + err


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_picture_of_a_page_exists(page):
    targets = re.findall(r"\]\(([^)\s]+)\)", page.read_text())
    local = [t.split("#")[0] for t in targets if not t.startswith(("http://", "https://", "#"))]
    missing = [t for t in local if t and not (page.parent / t).exists()]
    assert not missing, missing
    if page.name == "README.md":  # the picture at the top is the REINFORCE run's figure
        assert "docs/reward_vs_bias.png" in local
        assert (ROOT / "docs" / "reward_vs_bias.png").read_bytes()[:4] == b"\x89PNG"
