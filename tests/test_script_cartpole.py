"""`scripts/train_episodic.py` run as a user runs it."""

from __future__ import annotations

import pytest

import pg

from conftest import assert_refused, read_scalars, run_main, run_script


@pytest.mark.slow
def test_the_script_with_defaults_solves_cartpole_and_its_saved_policy_earns_475_when_loaded(
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
    returns = pg.evaluate(policy, "CartPole-v1", episodes=20)
    assert len(returns) == 20 and returns.mean() >= 475
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main("evaluate", str(run_dir), monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    assert out.startswith(
        f"CartPole-v1, 20 episodes, sampled actions: mean return {returns.mean():.1f} "
    )
    code, out, err = run_main(
        "evaluate", str(run_dir), "--deterministic", "--episodes", "5",
        monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert code == 0 and "5 episodes, most likely actions" in out, err


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


@pytest.mark.parametrize(
    "args, words",
    [
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
        (["--hidden", "99999999999999999999"], "--hidden layers must be at most 1,048,576 wide"),
        (["--hidden", "40000,40000"], "with at most 1,073,741,824 weights between them"),
        (["--gamma", "1.5"], "--gamma must be in [0, 1], got 1.5"),
        (["--episodes-per-update", "0"], "--episodes-per-update must be an integer >= 1, got 0"),
        (["--activation", "swish"], "argument --activation: invalid choice: 'swish'"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_run_folder(
    tmp_path, monkeypatch, capsys, args, words
):
    monkeypatch.chdir(tmp_path)
    result = run_main("train_episodic", *args, monkeypatch=monkeypatch, capsys=capsys)
    assert_refused(*result, "train_episodic", words, tmp_path / "logs")


@pytest.mark.slow
def test_a_bad_environment_from_a_real_command_line_gives_no_traceback(tmp_path):
    done = run_script("train_episodic", "--env-id", "NoSuchEnv-v0", cwd=tmp_path)
    assert_refused(
        done.returncode,
        done.stdout,
        done.stderr,
        "train_episodic",
        "cannot make environment",
        tmp_path / "logs",
    )


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
