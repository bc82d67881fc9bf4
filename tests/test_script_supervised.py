"""`scripts/train_supervised.py` run as a user runs it: defaults, flags, and bad input."""

from __future__ import annotations

import json

import pytest

from conftest import assert_refused, only_run_dir, read_scalars, run_main, run_script


@pytest.mark.slow
def test_the_script_with_defaults_reaches_minus_10_and_prints_the_summary_table(tmp_path):
    done = run_script("train_supervised", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    final = next(line for line in done.stdout.splitlines() if line.startswith("final bias"))
    assert abs(float(final.split()[2]) + 10) < 0.1
    assert "hunger   p(B)      target" in done.stdout
    run_dir = only_run_dir(tmp_path / "logs", "supervised")  # the default logdir, relative to cwd
    assert run_dir.name.endswith("-seed0")
    assert f"run folder: {run_dir.relative_to(tmp_path)}" in done.stdout
    assert "tensorboard --logdir logs" in done.stdout
    assert (run_dir / "mse_vs_bias.png").is_file()
    assert json.loads((run_dir / "config.json").read_text())["weight"] == 20.0


def test_flags_reach_the_trainer_and_quiet_prints_only_the_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_supervised",
        "--steps",
        "7",
        "--optimizer",
        "sgd",
        "--lr",
        "2",
        "--log-every",
        "3",
        "--run-name",
        "try",
        "--logdir",
        str(tmp_path / "runs"),
        "--quiet",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    assert not any(line.startswith("step") for line in out.splitlines())
    assert out.startswith("final bias")
    run_dir = tmp_path / "runs" / "supervised" / "try"
    assert [s for s, _ in read_scalars(run_dir)["policy/bias"]] == [0, 3, 6]
    saved = json.loads((run_dir / "config.json").read_text())
    assert (saved["optimizer"], saved["lr"], saved["steps"], saved["quiet"]) == (
        "sgd",
        2.0,
        7,
        True,
    )


def test_a_data_file_and_a_trained_weight_are_used(tmp_path, monkeypatch, capsys):
    (tmp_path / "labels.csv").write_text("hunger,p_b\n0.2,0\n0.3,0\n0.7,1\n0.8,1\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_supervised",
        "--data",
        "labels.csv",
        "--train-weight",
        "--quiet",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    rows = out.splitlines()
    assert rows[2].split()[0] == "0.2" and rows[5].split()[0] == "0.8"
    weight = float(rows[0].split()[4])
    assert weight != 20.0


def test_help_lists_every_flag_with_its_default(monkeypatch, capsys):
    code, out, _ = run_main("train_supervised", "--help", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0
    for flag in [
        "--steps",
        "--lr",
        "--optimizer",
        "--weight",
        "--train-weight",
        "--seed",
        "--logdir",
        "--run-name",
        "--log-every",
        "--data",
        "--device",
        "--quiet",
    ]:
        assert flag in out
    text = " ".join(out.split())  # argparse wraps lines at the terminal width
    assert "(default: 200)" in text and "(default: rprop)" in text and "{sgd,adam,rprop}" in text
    assert text.count("(default:") == 13  # every flag that takes a value, none twice


BAD_INPUT = [
    (["--steps", "-5"], "--steps must be an integer >= 1, got -5"),
    (["--steps", "ten"], "argument --steps: invalid int value: 'ten'"),
    (["--lr", "0"], "--lr must be a finite number > 0 and <= 1e+06, got 0.0"),
    (["--lr", "inf"], "--lr must be a finite number > 0 and <= 1e+06, got inf"),
    (["--optimizer", "lbfgs"], "argument --optimizer: invalid choice: 'lbfgs'"),
    (["--weight", "nan"], "--weight must be a finite number, got nan"),
    (["--log-every", "0"], "--log-every must be an integer >= 1, got 0"),
    (["--run-name", "a/b"], "--run-name must be a plain folder name, got 'a/b'"),
    (["--data", "absent.csv"], "absent.csv: no such file"),
    (["--data", "bad.csv"], "bad.csv:3: p_b must be in [0, 1], got 2"),
    (["--data", "."], ".: is a directory, not a CSV file"),
    (["--logdir", "blocker/logs"], "cannot create run folder under blocker/logs/supervised"),
    (["--run-name", "taken"], "already exists"),
    (["--stepz", "3"], "unrecognized arguments: --stepz 3"),
]


def bad_input_setup(tmp_path):
    (tmp_path / "bad.csv").write_text("hunger,p_b\n0.1,0\n0.9,2\n")
    (tmp_path / "blocker").write_text("a file where a folder should be")
    (tmp_path / "logs" / "supervised" / "taken").mkdir(parents=True)


@pytest.mark.parametrize("args, words", BAD_INPUT)
def test_bad_input_exits_2_with_one_line_and_no_run_folder(
    tmp_path, monkeypatch, capsys, args, words
):
    bad_input_setup(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_main("train_supervised", *args, monkeypatch=monkeypatch, capsys=capsys)
    assert_refused(*result, "train_supervised", words, tmp_path / "logs" / "supervised")


@pytest.mark.slow  # a whole interpreter each; the same refusals run in-process above
@pytest.mark.parametrize("args, words", [BAD_INPUT[11]])
def test_bad_input_from_a_real_command_line_gives_no_traceback(tmp_path, args, words):
    # a run folder that cannot be made, as a user meets it (an argparse refusal: the reinforce
    # script's test; every refusal also runs in-process above)
    bad_input_setup(tmp_path)
    done = run_script("train_supervised", *args, cwd=tmp_path)
    assert_refused(
        done.returncode,
        done.stdout,
        done.stderr,
        "train_supervised",
        words,
        tmp_path / "logs" / "supervised",
    )


@pytest.mark.parametrize(
    "script", ["train_supervised", "train_reinforce", "train_episodic", "evaluate"]
)
def test_help_fits_an_80_column_terminal(script, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps its own lines to the terminal's width
    code, out, _ = run_main(script, "--help", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0
    assert [line for line in out.splitlines() if len(line) > 80] == []


def test_printed_paths_with_spaces_are_quoted_so_a_pasted_command_works(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_supervised", "--steps", "3", "--logdir", "my logs", "--run-name", "a b",
        "--no-figure", monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "run folder: 'my logs/supervised/a b'   (view: tensorboard --logdir 'my logs')" in out
