"""`scripts/benchmark.py`: runs, prints Markdown, writes JSON; its measuring helpers are sound."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from pg.run import cli

from conftest import ROOT, assert_refused


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("benchmark", ROOT / "scripts" / "benchmark.py")
    module = sys.modules["benchmark"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_benchmark(benchmark, *args, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["scripts/benchmark.py", *args])
    code = cli.run(benchmark.main)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_table_renders_as_markdown_with_readable_numbers(benchmark):
    table = benchmark.Table(
        "T", ["a", "b", "c", "d"], rows=[["x", 1234567.0, 0.012345, True]], notes=["n"]
    )
    assert table.markdown().splitlines() == [
        "### T",
        "",
        "| a | b | c | d |",
        "|---|---|---|---|",
        "| x | 1,234,567 | 0.01235 | yes |",
        "",
        "- n",
    ]


@pytest.mark.slow
def test_the_article_s_procedure_from_the_example_hovers_around_minus_10(benchmark):
    bias, average = benchmark.example("hunger_reinforce").train(steps=2000, batch_size=1, lr=1.0)
    assert -13 < bias < -7  # one sample per update: it wanders around -10
    assert 0.6 < average <= 1.0


def test_the_quick_benchmark_prints_each_table_and_writes_them_with_the_machine(
    benchmark, tmp_path, monkeypatch, capsys
):
    # the sections' measurements are replaced by tiny tables: this checks the script around them
    # (which sections run, in order, with --quick; what is printed and written), in well under a
    # second instead of minutes
    calls = []

    def section(name):
        def measure(quick):
            calls.append((name, quick))
            return benchmark.Table(f"{name} table", ["how", "seconds"], rows=[["x", 1.5]])

        return measure

    monkeypatch.setattr(benchmark, "SECTIONS", {n: section(n) for n in ("variance", "logging")})
    monkeypatch.chdir(tmp_path)
    code, out, err = run_benchmark(
        benchmark,
        "--quick",
        "--only",
        "variance,logging",
        "--logdir",
        "out",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    assert calls == [("variance", True), ("logging", True)]
    assert out.index("### variance table") < out.index("### logging table")
    assert "| x | 1.5 |" in out and "- cores: " in out
    (json_file,) = (tmp_path / "out" / "benchmark").glob("*-quick.json")
    saved = json.loads(json_file.read_text())
    assert saved["quick"] and saved["machine"]["cores"] >= 1
    assert [t["title"] for t in saved["tables"]] == ["variance table", "logging table"]
    assert saved["tables"][0]["rows"] == [["x", 1.5]]
    markdown = json_file.with_suffix(".md").read_text()
    assert "### variance table" in markdown and "| x | 1.5 |" in markdown


def test_an_unknown_section_is_refused(benchmark, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    result = run_benchmark(benchmark, "--only", "speed", monkeypatch=monkeypatch, capsys=capsys)
    assert_refused(
        *result, "benchmark", "--only must name sections among throughput", tmp_path / "logs"
    )


def test_the_median_interval_is_a_percentile_bootstrap_and_counts_unsolved_seeds_as_infinite(
    benchmark,
):
    assert benchmark._median_with_interval([5.0] * 7) == "5 [5, 5]"
    text = benchmark._median_with_interval([1.0, 2.0, 3.0, 4.0, float("inf")])
    median, interval = text.split(" ", 1)
    assert median == "3" and interval.startswith("[1") and interval.endswith("inf]")
