"""Property-based tests: random settings and tensors thrown at the parser, the data loader, the
policy, the environment and the losses. Each either gives a correct result or refuses with a
clear error (UsageError / ValueError / TypeError, one line); never another exception, never NaN.

Derandomised (the same cases on every run), no example database written, no deadline.
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pg
from pg.run import cli

from conftest import script_module

# fuzzing: hundreds of cases a test, so the quick loop (-m "not slow") leaves it to the full suite
pytestmark = pytest.mark.slow

PROPERTY = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(min_value=-(10**6), max_value=10**6),
)
junk = st.one_of(numbers.map(str), st.text(alphabet="0123456789.-+eEnaif x,", max_size=8))


def mostly(valid, invalid):
    """Valid values about 4 times in 5, so both branches of every property get exercised."""
    return st.one_of(valid, valid, valid, valid, invalid)


unit = mostly(st.floats(0, 1), numbers)  # probabilities, thresholds, hunger
small = mostly(st.floats(-10, 10), numbers)
cells = mostly(st.floats(0, 1).map(str), junk)


# --- the command line -----------------------------------------------------------------------------

FLAG_VALUES = {  # each flag with values of its own kind most of the time, and anything at all
    "--steps": mostly(st.integers(1, 500).map(str), junk),
    "--batch-size": mostly(st.integers(1, 4096).map(str), junk),
    "--optimizer": mostly(st.sampled_from(["sgd", "adam"]), junk),
    "--lr": mostly(st.floats(1e-4, 100).map(str), junk),
    "--baseline": mostly(st.sampled_from(["none", "mean"]), junk),
    "--weight": mostly(st.floats(-50, 50).map(str), junk),
    "--threshold": unit.map(str),
    "--reward-good": mostly(st.floats(1, 5).map(str), junk),
    "--reward-bad": mostly(st.floats(-5, 0.5).map(lambda v: f"={v}"), junk),
    "--seed": mostly(st.integers(0, 99).map(str), junk),
    "--log-every": mostly(st.integers(1, 50).map(str), junk),
    "--save-every": mostly(st.integers(0, 50).map(str), junk),
    "--run-name": mostly(st.sampled_from(["a", "run-1"]), st.text(max_size=6)),
    "--device": mostly(st.just("cpu"), junk),
}
SWITCHES = ["--train-weight", "--stochastic-portions", "--walkthrough", "--quiet", "--bogus"]
flag_and_value = st.sampled_from(sorted(FLAG_VALUES)).flatmap(
    lambda flag: FLAG_VALUES[flag].map(lambda v: [flag + v] if v.startswith("=") else [flag, v])
)
argv = st.lists(
    mostly(flag_and_value, st.sampled_from(SWITCHES).map(lambda f: [f])), max_size=5
).map(lambda parts: [token for part in parts for token in part])


@PROPERTY
@given(argv)
def test_the_parser_returns_valid_settings_or_exits_2_with_one_line(tokens):
    args_cls = script_module("train_reinforce").Args
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = cli.parse(args_cls, tokens)
    except SystemExit as e:
        assert e.code == 2
        assert len(err.getvalue().splitlines()) == 1 and err.getvalue().startswith(" ") is False
        return
    assert (
        args.steps >= 1
        and args.batch_size >= 1
        and 0 < args.lr <= 1e6
        and math.isfinite(args.weight)
    )
    assert 0 <= args.threshold <= 1 and args.reward_good > args.reward_bad
    assert args.optimizer in ("sgd", "adam") and args.baseline in ("none", "mean")


# --- the data loader ------------------------------------------------------------------------------

good_file = st.tuples(
    st.sampled_from(["hunger,p_b", "p_b,hunger", "hunger,p_b,note"]),
    st.lists(st.lists(st.floats(0, 1).map(str), min_size=2, max_size=3), min_size=1, max_size=6),
)
any_file = st.tuples(
    st.sampled_from(["hunger,p_b", "hunger,target", "hunger", "", "p_b,hunger"]),
    st.lists(st.lists(mostly(st.floats(0, 1).map(str), junk), max_size=3), max_size=6),
)


@PROPERTY
@given(st.one_of(good_file, good_file, any_file))
def test_the_data_loader_returns_clean_labels_or_names_the_file_and_line(file):
    header, body = file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labels.csv"
        path.write_text("\n".join([header, *(",".join(row) for row in body)]) + "\n")
        try:
            hunger, p_b = pg.load_csv(path)
        except pg.DataError as e:
            assert str(e).startswith(str(path)) and "\n" not in str(e)
            return
    assert hunger.shape == p_b.shape and len(hunger) >= 1
    for t in (hunger, p_b):
        assert bool(torch.isfinite(t).all()) and float(t.min()) >= 0 and float(t.max()) <= 1


# --- the policy -----------------------------------------------------------------------------------

dtypes = mostly(
    st.sampled_from([torch.float32, torch.float64]), st.sampled_from([torch.int64, torch.bool])
)
values = mostly(
    st.floats(-20, 20, width=32), st.floats(allow_nan=True, allow_infinity=True, width=32)
)


@st.composite
def tensors(draw, length=None):
    """A tensor of length `length` (1-D) most of the time, or of any small shape."""
    n = draw(st.integers(1, 5)) if length is None else length
    shape = draw(mostly(st.just([n]), st.lists(st.integers(0, 4), max_size=3)))
    dtype = draw(dtypes)
    numel = math.prod(shape)
    data = draw(st.lists(values, min_size=numel, max_size=numel))
    t = torch.tensor(data, dtype=torch.float64).reshape(shape)
    return (
        t.to(dtype) if dtype.is_floating_point else torch.nan_to_num(t).clamp(-100, 100).to(dtype)
    )


def finite_vector(n: int, dtype: torch.dtype):
    return st.lists(st.floats(-20, 20), min_size=n, max_size=n).map(
        lambda v: torch.tensor(v, dtype=dtype)
    )


good_pairs = st.tuples(st.integers(1, 5), st.sampled_from([torch.float32, torch.float64])).flatmap(
    lambda nd: st.tuples(finite_vector(*nd), finite_vector(*nd))
)
pairs = st.one_of(
    good_pairs, good_pairs, st.integers(1, 5).flatmap(lambda n: st.tuples(tensors(n), tensors(n)))
)


@PROPERTY
@given(tensors(), st.floats(-50, 50), st.floats(-50, 50))
def test_the_policy_gives_probabilities_or_refuses_the_observations(obs, weight, bias):
    policy = pg.HungerPolicy(weight=weight, bias=bias)
    try:
        p_b = policy(obs)
    except (ValueError, TypeError) as e:
        assert "\n" not in str(e)
        return
    assert p_b.ndim == 1 and bool(((p_b >= 0) & (p_b <= 1)).all())
    log_p = policy.distribution(obs).log_prob(torch.ones_like(p_b))
    assert bool((log_p <= 0).all()) and not bool(log_p.isnan().any())


# --- the environment ------------------------------------------------------------------------------

good_env = st.tuples(
    st.floats(0, 1),
    st.floats(-10, 10),
    st.floats(1e-3, 10),
    st.booleans(),
    st.floats(0, 1),
    st.floats(0, 1),
).map(
    lambda v: (v[0], v[1] + v[2], v[1], v[3], v[4], v[5])
)  # reward_good = reward_bad + a positive gap
any_env = st.tuples(unit, small, small, st.booleans(), unit, unit)


@PROPERTY
@given(st.one_of(good_env, good_env, any_env), st.floats(-60, 60), st.floats(0.1, 40))
def test_the_environment_is_refused_or_rewards_within_its_bounds(settings_, bias, weight):
    threshold, good, bad, stochastic, qa, qb = settings_
    try:
        env = pg.HungerBandit(threshold, good, bad, stochastic, qa, qb)
    except pg.UsageError as e:
        assert "\n" not in str(e)
        return
    gen = torch.Generator().manual_seed(0)
    hunger = env.sample_hunger(256, gen)
    reward = env.reward(hunger, (hunger > 0.5).float(), gen)
    assert set(reward.tolist()) <= {
        float(torch.tensor(good, dtype=torch.float32)),
        float(torch.tensor(bad, dtype=torch.float32)),
    }
    policy = pg.HungerPolicy(weight=weight, bias=bias, dtype=torch.float64)
    j = env.expected_reward(policy).item()
    assert math.isfinite(j) and bad - 1e-9 * abs(bad) <= j <= good + 1e-9 * abs(good)
    best = env.optimal_bias(weight)
    assert not math.isnan(best)
    if math.isfinite(best):
        at_best = env.expected_reward(
            pg.HungerPolicy(weight=weight, bias=best, dtype=torch.float64)
        ).item()
        assert at_best >= j - 1e-9 * max(1.0, abs(good - bad))


# --- the losses -----------------------------------------------------------------------------------


@PROPERTY
@given(pairs, st.one_of(st.none(), values))
def test_the_reinforce_loss_is_finite_or_refuses_its_inputs(pair, baseline):
    log_prob, reward = pair
    try:
        loss = pg.reinforce_loss(log_prob, reward, baseline)
    except (ValueError, TypeError) as e:
        assert "\n" not in str(e)
        return
    assert loss.ndim == 0 and math.isfinite(loss.item())


@PROPERTY
@given(st.integers(1, 6), st.integers(1, 3), st.floats(0, 1), st.data())
def test_reward_to_go_matches_a_plain_loop_and_normalisation_stays_finite(t, n, gamma, data):
    reward = torch.tensor(
        data.draw(st.lists(st.floats(-1e6, 1e6), min_size=t * n, max_size=t * n)),
        dtype=torch.float64,
    ).reshape(t, n)
    done = torch.tensor(data.draw(st.lists(st.booleans(), min_size=t * n, max_size=t * n))).reshape(
        t, n
    )
    out = pg.reward_to_go(reward, done, gamma)
    for i in range(n):
        running = 0.0
        for step in reversed(range(t)):
            running = reward[step, i].item() + gamma * (0.0 if done[step, i] else running)
            assert out[step, i].item() == pytest.approx(running, rel=1e-9, abs=1e-6)
    assert bool(torch.isfinite(pg.standardize(out.flatten())).all())
