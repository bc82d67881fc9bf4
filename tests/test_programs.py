"""The programs run as a user runs them (`scripts/train_*.py`): defaults, summaries, flags,
`--help`, and bad input.

Most run in-process through the program's own `main` (`run_main`); a real interpreter is kept
for what only a real process shows.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import pg

from conftest import ROOT, assert_refused, only_run_dir, read_scalars, run_main, run_script


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
    assert [s for s, _ in read_scalars(run_dir)["policy/bias"]] == [0, 1, 3, 6, 7]
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


SUPERVISED_BAD = [
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
        "train_supervised",
        "--steps",
        "3",
        "--logdir",
        "my logs",
        "--run-name",
        "a b",
        "--no-figure",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    assert "run folder: 'my logs/supervised/a b'   (view: tensorboard --logdir 'my logs')" in out


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


def test_the_walkthrough_runs_from_the_checkouts_script_started_in_another_folder(tmp_path):
    # the checkout's script records runs in the checkout's logs/, a logdir the walkthrough ignores
    before = sorted((ROOT / "logs").iterdir())
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_reinforce.py"), "--walkthrough"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "-1.122459" in done.stdout, done.stderr
    assert sorted((ROOT / "logs").iterdir()) == before and not list(tmp_path.iterdir())


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


REINFORCE_BAD = [
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
        "train_reinforce",
        "--threshold",
        "0",
        "--steps",
        "20",
        "--quiet",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0 and err == "" and "nan" not in out, out + err
    assert "optimum 1.000000" in out  # with every hunger above 0, Place B always suits


@pytest.mark.slow
def test_the_script_with_defaults_solves_cartpole_and_its_saved_policy_earns_475_greedily(
    tmp_path, monkeypatch, capsys
):
    # one test, so that the default run (about 20 s here) is trained once, not once a check
    done = run_script("train_episodic", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (run_dir,) = (tmp_path / "logs" / "episodic").iterdir()
    lines = done.stdout.splitlines()
    verdict = next(line for line in lines if line.startswith("CartPole-v1"))
    assert (
        verdict.startswith("CartPole-v1 solved: mean return") and float(verdict.split()[4]) >= 475
    )
    effort = next(line for line in lines if line.startswith("after")).split()
    assert (
        int(effort[1]) > 100 and int(effort[3]) > 10_000 and float(effort[6]) > 0
    )  # episodes, steps, seconds
    assert run_dir.name.endswith("-seed1")
    assert len(read_scalars(run_dir)["charts/episodic_return"]) == int(effort[1])
    assert int(effort[1]) <= 2000  # solved within 2,000 episodes

    # the policy it saved, loaded as a user loads it
    policy = pg.load_policy(run_dir)
    assert isinstance(policy, pg.MLPPolicy) and not policy.training
    greedy = pg.evaluate(policy, "CartPole-v1", episodes=5, deterministic=True)
    assert greedy.mean() >= 475
    returns = pg.evaluate(policy, "CartPole-v1", episodes=20)  # sampled: 20 episodes vary more
    assert len(returns) == 20 and returns.mean() >= 400
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main("evaluate", str(run_dir), monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    assert out.startswith(
        f"CartPole-v1, 20 episodes, sampled actions: mean return {returns.mean():.1f} "
    )
    code, out, err = run_main(
        "evaluate",
        str(run_dir),
        "--deterministic",
        "--episodes",
        "5",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    assert out.startswith(
        f"CartPole-v1, 5 episodes, most likely actions: mean return {greedy.mean():.1f} "
    )


def test_a_short_budget_stops_unsolved_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_episodic",
        "--total-steps",
        "500",
        "--hidden",
        "16",
        "--quiet",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    assert out.startswith("CartPole-v1 not solved: mean return")
    effort = out.splitlines()[1]  # whole episodes: the last batch runs past 500 steps
    steps = int(effort.split()[3])
    assert steps > 500 and effort.endswith("ran past the budget of 500)")


EPISODIC_BAD = [
    (["--env-id", "NoSuchEnv-v0"], "cannot make environment 'NoSuchEnv-v0'"),
    (["--env-id", "Blackjack-v1"], "is neither a Box nor Discrete"),
    (["--env-id", "Ant-v2"], "cannot make environment 'Ant-v2': The mujoco v2 and v3"),
    (
        ["--env-id", "phys2d/CartPole-v1"],
        "cannot make environment 'phys2d/CartPole-v1': No module",
    ),
    (
        ["--env-id", "nosuchmodule:X-v0"],
        "cannot make environment 'nosuchmodule:X-v0': No module",
    ),
    (["--hidden", "64,x"], "--hidden must be comma-separated positive integers, got '64,x'"),
    (["--hidden", "99999999999999999999"], "--hidden layers must be at most 16,384 wide"),
    (["--hidden", "1048576"], "--hidden layers must be at most 16,384 wide"),
    (["--hidden", "16384,16384,16384"], "with at most 268,435,456 weights between them"),
    (["--gamma", "1.5"], "--gamma must be in [0, 1], got 1.5"),
    (["--episodes-per-update", "0"], "--episodes-per-update must be an integer >= 1, got 0"),
    (["--activation", "swish"], "argument --activation: invalid choice: 'swish'"),
    (["--baseline", "critic"], "argument --baseline: invalid choice: 'critic'"),
    (["--value-hidden", "0"], "--value-hidden must be comma-separated positive integers, got (0,)"),
    (["--value-lr", "0"], "--value-lr must be a finite number > 0 and <= 1e+06, got 0.0"),
    (["--value-updates", "0"], "--value-updates must be an integer >= 1, got 0"),
]


def test_episodes_that_outgrow_the_batch_bound_end_the_run_in_one_line_exit_1(
    tmp_path, monkeypatch, capsys
):
    """An environment without a time limit can run an episode for ever; the batch is bounded, so
    it ends in one line instead of filling memory. (The bound is lowered here so that CartPole's
    first steps pass it: 16 observations of 4 values, 16 actions, rewards and masks a step.)"""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("pg.episodes.MAX_BATCH_VALUES", 500)
    code, out, err = run_main("train_episodic", "--quiet", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1 and out == "" and len(err.splitlines()) == 1, err
    # 16 x 4 + 16 + 16 + 16 = 112 values a step: over 500 at the 5th, when every random
    # episode still runs (they last 8 steps or more)
    assert err.startswith(
        "train_episodic.py: error: 16 of 16 episodes still running after 5 steps: the batch "
        "would pass 500 values;"
    ), err
    assert "max_episode_steps" in err


@pytest.mark.slow
def test_without_gymnasium_the_hunger_scripts_run_and_the_episodic_one_names_the_extra(tmp_path):
    # one fresh interpreter in which any `import gymnasium` fails, running both scripts
    code = (
        "import sys, runpy; sys.modules['gymnasium'] = None\n"
        "import pg\n"
        "def run(script, *args):\n"
        "    sys.argv = [script + '.py', *args]\n"
        "    try:\n"
        f"        runpy.run_path({str(ROOT / 'scripts')!r} + '/' + script + '.py', "
        "run_name='__main__')\n"
        "    except SystemExit as e:\n"
        "        print('exit', e.code, flush=True)\n"
        f"run('train_reinforce', '--steps', '3', '--quiet', '--no-figure', '--logdir', "
        f"{str(tmp_path)!r})\n"
        "run('train_episodic', '--quiet')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.startswith("final bias"), done.stderr
    assert done.stdout.endswith("exit 0\nexit 2\n"), done.stdout
    expected = "episodic training needs gymnasium, an extra: pip install -e '.[gym]'"
    assert done.stderr == f"train_episodic.py: error: {expected}\n"


BAD_INPUT = [
    *[("train_supervised", args, words) for args, words in SUPERVISED_BAD],
    *[("train_reinforce", args, words) for args, words in REINFORCE_BAD],
    *[("train_episodic", args, words) for args, words in EPISODIC_BAD],
]


def bad_input_setup(tmp_path):
    """What the refusals need: a bad data file, a file where a folder should be, taken names."""
    (tmp_path / "bad.csv").write_text("hunger,p_b\n0.1,0\n0.9,2\n")
    (tmp_path / "blocker").write_text("a file where a folder should be")
    for kind in ("supervised", "reinforce"):
        (tmp_path / "logs" / kind / "taken").mkdir(parents=True)


@pytest.mark.parametrize("program, args, words", BAD_INPUT)
def test_bad_input_exits_2_with_one_line_and_no_run_folder(
    tmp_path, monkeypatch, capsys, program, args, words
):
    bad_input_setup(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_main(program, *args, monkeypatch=monkeypatch, capsys=capsys)
    kind = program.removeprefix("train_")
    assert_refused(*result, program, words, tmp_path / "logs" / kind)


@pytest.mark.slow  # a whole interpreter each; the same refusals run in-process above
@pytest.mark.parametrize(
    "program, args, words",
    [
        ("train_supervised", *SUPERVISED_BAD[11]),  # a run folder that cannot be made
        ("train_reinforce", *REINFORCE_BAD[2]),  # argparse
        ("train_episodic", ["--env-id", "NoSuchEnv-v0"], "cannot make environment"),
    ],
)
def test_bad_input_from_a_real_command_line_gives_no_traceback(tmp_path, program, args, words):
    bad_input_setup(tmp_path)
    done = run_script(program, *args, cwd=tmp_path)
    kind = program.removeprefix("train_")
    runs = tmp_path / "logs" / kind
    assert_refused(done.returncode, done.stdout, done.stderr, program, words, runs)


def test_a_run_that_leaves_exact_j_below_its_start_says_so_and_suggests_the_cause(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_reinforce", "--reward-bad=-1e3", "--quiet", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0, err
    (line,) = [s for s in out.splitlines() if s.startswith("exact J fell")]
    start, end = float(line.split()[6]), float(line.split()[8].rstrip(":"))
    assert end < start  # as the numbers it prints say
    assert "learning rate (10) times rewards of up to 1000" in line and "--lr" in line
    code, out, err = run_main("train_reinforce", "--quiet", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0 and "exact J fell" not in out  # the default run improves J


@pytest.mark.parametrize(
    "args, words",
    [
        (["logs/episodic/r", "--episodes", "1099511627776"], "episodes must be at most 4,096"),
        (["logs/episodic/r", "--episodes", "0"], "episodes must be an integer >= 1"),
        ([""], "RUN must name a run folder or checkpoint file"),
    ],
)
def test_evaluate_refuses_bad_input_in_one_line_before_loading_anything(
    tmp_path, monkeypatch, capsys, args, words
):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main("evaluate", *args, monkeypatch=monkeypatch, capsys=capsys)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert err.startswith("evaluate.py: error: ") and words in err, err


def test_the_library_s_evaluate_bounds_its_episodes_too():
    with pytest.raises(pg.UsageError, match="episodes must be at most 4,096"):
        pg.evaluate(pg.MLPPolicy(4, 2), "CartPole-v1", episodes=4097)


def test_evaluate_refuses_an_empty_env_id_instead_of_ignoring_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "evaluate", "logs/episodic/r", "--env-id", "", monkeypatch=monkeypatch, capsys=capsys
    )
    assert (code, out) == (2, "") and "--env-id must name an environment, got ''" in err, err
