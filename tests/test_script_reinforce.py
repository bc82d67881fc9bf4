"""`scripts/train_reinforce.py` as a user runs it: defaults, the walkthrough, flags, bad input."""

from __future__ import annotations

import json

import pytest

from conftest import assert_refused, only_run_dir, read_scalars, run_main, run_script


@pytest.mark.slow
def test_the_script_with_defaults_reaches_the_optimum_and_prints_the_summary(tmp_path):
    done = run_script("train_reinforce", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    final = next(line for line in lines if line.startswith("final bias"))
    assert abs(float(final.split()[2]) + 10) < 0.25 and "(optimal bias -10.000000)" in final
    rewards = next(line for line in lines if line.startswith("average reward")).split()
    assert abs(float(rewards[2]) / 0.861380 - 1) < 0.01 and rewards[-5] == "0.861380"
    assert rewards[-4:-2] == ["(J", "is"] and rewards[-1] == "below)"  # exact J's gap, not a share
    assert float(rewards[-2]) == pytest.approx(0.861380 - float(rewards[11]), abs=2e-6)
    assert "hunger   p(B)" in done.stdout
    run_dir = only_run_dir(tmp_path / "logs", "reinforce")
    assert f"run folder: {run_dir.relative_to(tmp_path)}" in done.stdout
    assert (run_dir / "reward_vs_bias.png").is_file()
    assert json.loads((run_dir / "config.json").read_text())["batch_size"] == 8192


def test_the_walkthrough_prints_the_article_s_two_steps_and_creates_no_run(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_reinforce", "--walkthrough", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[1:3]]
    assert rows[0] == [
        "1",
        "0.000000",
        "0.500000",
        "0.2",
        "A",
        "+1",
        "0.500000",
        "0.500000",
        "0.500000",
        "-0.500000",
        "-0.500000",
    ]
    assert rows[1] == [
        "2",
        "-0.500000",
        "0.377541",
        "0.9",
        "B",
        "-1",
        "-0.622459",
        "-0.622459",
        "0.622459",
        "-0.622459",
        "-1.122459",
    ]
    assert not (tmp_path / "logs").exists()


def test_the_article_s_procedure_runs_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_reinforce",
        "--batch-size",
        "1",
        "--lr",
        "1",
        "--steps",
        "400",
        "--quiet",
        "--logdir",
        str(tmp_path / "runs"),
        "--run-name",
        "article",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    bias = [v for _, v in read_scalars(tmp_path / "runs" / "reinforce" / "article")["policy/bias"]]
    assert bias[0] == 0.0 and bias[-1] < -5  # single guesses, yet clearly on its way to -10


def test_environment_flags_reach_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_reinforce",
        "--stochastic-portions",
        "--reward-good",
        "2",
        "--reward-bad",
        "-2",
        "--threshold",
        "0.5",
        "--steps",
        "50",
        "--quiet",
        "--logdir",
        str(tmp_path),
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    saved = json.loads((only_run_dir(tmp_path, "reinforce") / "config.json").read_text())
    assert "stochastic_portions=True" in saved["env"] and "reward_good=2.0" in saved["env"]
    optimum = float(
        next(line for line in out.splitlines() if line.startswith("average")).split()[-5]
    )
    assert optimum == pytest.approx(
        -2 + 4 * (1 + 0.559897) / 2, abs=2e-6
    )  # J(-10) rescaled to +2 / -2


def test_help_lists_every_flag(monkeypatch, capsys):
    code, out, _ = run_main("train_reinforce", "--help", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0
    for flag in [
        "--steps",
        "--batch-size",
        "--lr",
        "--optimizer",
        "--baseline",
        "--weight",
        "--train-weight",
        "--threshold",
        "--reward-good",
        "--reward-bad",
        "--stochastic-portions",
        "--seed",
        "--logdir",
        "--run-name",
        "--log-every",
        "--walkthrough",
        "--quiet",
    ]:
        assert flag in out
    assert "(default: 8192)" in " ".join(out.split())


BAD_INPUT = [
    (["--batch-size", "0"], "--batch-size must be an integer >= 1, got 0"),
    (["--lr", "-1"], "--lr must be a finite number > 0 and <= 1e+06, got -1.0"),
    (["--optimizer", "rprop"], "argument --optimizer: invalid choice: 'rprop'"),
    (["--baseline", "critic"], "argument --baseline: invalid choice: 'critic'"),
    (["--threshold", "1.5"], "--threshold must be in [0, 1], got 1.5"),
    (
        ["--reward-good", "-1", "--reward-bad", "1"],
        "--reward-good must be greater than --reward-bad, got -1.0 <= 1.0",
    ),
    (["--weight", "inf"], "--weight must be a finite number, got inf"),
    (
        ["--walkthrough", "--steps", "5"],
        "--walkthrough replays the article's fixed example and takes no --steps",
    ),
    (["--logdir", "blocker/logs"], "cannot create run folder under blocker/logs/reinforce"),
    (["--run-name", "taken"], "already exists"),
    # bytes that are not UTF-8 (here 0xff) reach Python as a lone surrogate
    (["--run-name", "caf\udcff"], "--run-name must be UTF-8 text, got caf\\udcff"),
    (["--logdir", "runs\udcff"], "--logdir must be UTF-8 text"),
]


def bad_input_setup(tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    (tmp_path / "logs" / "reinforce" / "taken").mkdir(parents=True)


@pytest.mark.parametrize("args, words", BAD_INPUT)
def test_bad_input_exits_2_with_one_line_and_no_run_folder(
    tmp_path, monkeypatch, capsys, args, words
):
    bad_input_setup(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_main("train_reinforce", *args, monkeypatch=monkeypatch, capsys=capsys)
    assert_refused(*result, "train_reinforce", words, tmp_path / "logs" / "reinforce")


@pytest.mark.slow  # a whole interpreter each; the same refusals run in-process above
@pytest.mark.parametrize("args, words", [BAD_INPUT[2]])  # argparse
def test_bad_input_from_a_real_command_line_gives_no_traceback(tmp_path, args, words):
    bad_input_setup(tmp_path)
    done = run_script("train_reinforce", *args, cwd=tmp_path)
    assert_refused(
        done.returncode,
        done.stdout,
        done.stderr,
        "train_reinforce",
        words,
        tmp_path / "logs" / "reinforce",
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (["--steps", "1" + "0" * 400], "--steps must be at most 4,611,686,018,427,387,904"),
        (["--seed", str(2**64)], "--seed must be at most"),
        (["--batch-size", str(10**12)], "--batch-size must be at most 134,217,728"),
        (["--threads", "0"], "--threads must be an integer >= 1, got 0"),
        (["--weight", "1e30"], "--weight must be within ±1000, got 1e+30"),
    ],
)
def test_numbers_too_large_to_run_are_refused_in_one_line(
    tmp_path, monkeypatch, capsys, args, words
):
    monkeypatch.chdir(tmp_path)
    result = run_main("train_reinforce", *args, monkeypatch=monkeypatch, capsys=capsys)
    assert_refused(*result, "train_reinforce", words, tmp_path / "logs")


def test_a_threshold_of_0_has_a_finite_optimum_always_place_b(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_reinforce", "--threshold", "0", "--steps", "20", "--quiet",
        monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert code == 0 and err == "" and "nan" not in out, out + err
    assert "optimum 1.000000" in out  # with every hunger above 0, Place B always suits
