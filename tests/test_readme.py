"""Every complete Python example in the README runs as printed.

Complete examples start with their imports; the short excerpts of the trainers' code that the
README quotes (`p_b = policy(hunger)` ...) are not programs on their own and are skipped.
"""

from __future__ import annotations

import re

import pytest

from conftest import ROOT

BLOCKS = [
    block
    for block in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    if block.startswith("import ")
]


def test_the_readme_has_complete_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_a_readme_python_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything an example writes lands in a temporary folder
    exec(
        compile(BLOCKS[index], f"README.md python block {index}", "exec"),
        {"__name__": "__readme__"},
    )
