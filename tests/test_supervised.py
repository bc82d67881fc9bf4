"""Supervised training: the article's error curve against exact math, and `pg.train_supervised`.

Golden numbers from ../shared/reference/example.md (weight 20, the article's four labelled points,
MSE = mean over the 4 points, float64).
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

import pg
from pg import exact

from conftest import only_run_dir, read_events, read_scalars

GOLDEN = [  # bias, MSE, dMSE/db
    (0.0, 2.564509e-01, 1.087390e-01),
    (-2.0, 6.605233e-02, 6.875777e-02),
    (-6.0, 8.240441e-05, 1.618919e-04),
    (-10.0, 5.726034e-08, 0.0),
]


def autograd_mse_and_slope(bias: float) -> tuple[float, float]:
    """MSE and dMSE/db as the trainer computes them: the module, F.mse_loss and backward()."""
    policy = pg.HungerPolicy(weight=20.0, bias=bias, dtype=torch.float64)
    hunger, target = pg.article_data(torch.float64)
    loss = F.mse_loss(policy(hunger), target)
    loss.backward()
    return loss.item(), policy.bias.grad.item()


@pytest.mark.parametrize("bias, mse, slope", GOLDEN)
def test_the_hand_formula_gives_the_golden_mse_and_derivative(bias, mse, slope):
    hunger, target = pg.article_data(torch.float64)
    assert exact.mse(hunger, target, 20.0, bias).item() == pytest.approx(mse, rel=1e-6)
    assert exact.mse_grad_bias(hunger, target, 20.0, bias).item() == pytest.approx(
        slope, rel=1e-6, abs=1e-12
    )


@pytest.mark.parametrize("bias, mse, slope", GOLDEN)
def test_autograd_on_the_module_gives_the_golden_mse_and_derivative(bias, mse, slope):
    loss, grad = autograd_mse_and_slope(bias)
    assert loss == pytest.approx(mse, rel=1e-6)
    assert grad == pytest.approx(slope, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("bias", [3.0, 0.5, -1.0, -4.5, -8.0, -9.9, -10.1, -14.0, -25.0])
def test_autograd_matches_the_hand_derivative_2_over_n_sum_p_minus_y_p_1_minus_p(bias):
    hunger, target = pg.article_data(torch.float64)
    p = torch.sigmoid(20.0 * hunger + bias)
    by_hand = (2 / 4) * ((p - target) * p * (1 - p)).sum().item()
    _, grad = autograd_mse_and_slope(bias)
    assert grad == pytest.approx(by_hand, rel=1e-10, abs=1e-300)
    assert exact.mse_grad_bias(hunger, target, 20.0, bias).item() == pytest.approx(
        by_hand, rel=1e-12
    )


def test_the_derivative_says_move_left_above_minus_10_and_right_below_it():
    # the article's rule: positive derivative -> shift the bias left, negative -> right
    hunger, target = pg.article_data(torch.float64)
    biases = torch.tensor([-12.0, -10.5, -9.5, -6.0, 0.0], dtype=torch.float64)
    signs = torch.sign(exact.mse_grad_bias(hunger, target, 20.0, biases)).tolist()
    assert signs == [-1.0, -1.0, 1.0, 1.0, 1.0]


def test_the_mse_minimum_over_a_fine_grid_is_at_bias_minus_10():
    hunger, target = pg.article_data(torch.float64)
    grid = torch.linspace(-20, 0, 20001, dtype=torch.float64)  # step 0.001
    best = grid[exact.mse(hunger, target, 20.0, grid).argmin()].item()
    assert best == pytest.approx(-10.0, abs=1e-3)


def sgd_by_hand(lr: float, steps: int, bias: float = 0.0) -> float:
    """Plain gradient descent on the article's MSE in float64 scalars, from the hand formula
    dMSE/db = (2/4) * sum((p - y) * p * (1 - p)), p = sigmoid(20 * hunger + b)."""
    points = [(0.0, 0.0), (0.1, 0.0), (0.9, 1.0), (1.0, 1.0)]
    for _ in range(steps):
        slope = 0.0
        for hunger, label in points:
            p = 1.0 / (1.0 + math.exp(-(20.0 * hunger + bias)))
            slope += (p - label) * p * (1.0 - p)
        bias -= lr * slope / 2.0
    return bias


def test_plain_sgd_stalls_in_the_flat_region_far_from_minus_10():
    # Squared error on a saturated sigmoid: the slope shrinks like exp(2b), so gradient descent
    # crawls: 20,000 SGD steps at lr 1 end near -6.94, far from -10. The trainer takes the same
    # path as gradient descent by hand (checked over the first 2,000 steps, where the bias moves
    # most), so 20,000 steps of it end there too.
    hunger, target = pg.article_data(torch.float64)
    policy = pg.HungerPolicy(dtype=torch.float64)
    pg.train_supervised(
        policy, hunger, target, optimizer="sgd", lr=1.0, steps=2_000, log_every=2_000, logdir=None
    )
    assert policy.bias.item() == pytest.approx(sgd_by_hand(1.0, 2_000), abs=1e-12)
    assert policy.bias.item() < -5.0  # it has moved a long way from 0 ...
    assert sgd_by_hand(1.0, 20_000) == pytest.approx(-6.9391, abs=1e-3)  # ... then crawls


def test_on_the_sum_of_squared_residuals_sgd_stalls_near_minus_7_6():
    # the sum is 4 x the MSE, so its SGD at lr 1 is the MSE's at lr 4: example.md's "-7.6"
    assert sgd_by_hand(4.0, 20_000) == pytest.approx(-7.6434, abs=1e-3)


def test_the_defaults_converge_to_bias_minus_10_within_0_1():
    policy = pg.HungerPolicy()
    hunger, target = pg.article_data()
    result = pg.train_supervised(policy, hunger, target, logdir=None)
    assert abs(policy.bias.item() + 10) < 0.1
    assert result.loss == pytest.approx(5.726034e-08, rel=1e-3)  # the golden minimum
    assert policy.weight.item() == 20.0  # untouched: only the bias is trained


@pytest.mark.parametrize("optimizer, lr", [("adam", 0.1), ("sgd", 1.0)])
def test_sgd_and_adam_head_downhill_but_crawl_in_the_flat_region_where_rprop_arrives(optimizer, lr):
    hunger, target = pg.article_data()
    policy = pg.HungerPolicy()
    result = pg.train_supervised(
        policy, hunger, target, optimizer=optimizer, lr=lr, steps=300, logdir=None
    )
    assert -7.0 < policy.bias.item() < -3.0  # the right direction, still far from -10
    assert result.loss < 2.564509e-01 / 100  # yet the error already looks small: the flat region
    rprop = pg.HungerPolicy()
    pg.train_supervised(rprop, hunger, target, optimizer="rprop", lr=0.1, steps=300, logdir=None)
    assert abs(rprop.bias.item() + 10) < 0.01


def test_training_the_weight_too_fits_the_labels_better_than_the_bias_alone():
    hunger, target = pg.article_data()
    free = pg.HungerPolicy(train_weight=True)
    result = pg.train_supervised(free, hunger, target, logdir=None)
    assert free.weight.item() > 20.0  # separable data: a steeper step always fits better
    assert result.loss < 5.726034e-08
    assert (free(hunger) - target).abs().max() < 1e-3


def test_the_history_has_a_point_after_the_first_every_5th_and_the_last_update():
    policy = pg.HungerPolicy()
    result = pg.train_supervised(policy, *pg.article_data(), steps=23, log_every=5, logdir=None)
    assert result.history["step"] == [1, 5, 10, 15, 20, 23]
    assert len(result.history["loss/mse"]) == len(result.history["policy/bias"]) == 6
    # step 1: the first update's loss and gradient, at bias 0, and the bias it left (Rprop's
    # first step is its initial step size, lr = 0.1, against the gradient's sign)
    assert result.history["loss/mse"][0] == pytest.approx(2.564509e-01, rel=1e-6)
    assert result.history["grad/bias"][0] == pytest.approx(1.087390e-01, rel=1e-5)
    assert result.history["policy/bias"][0] == pytest.approx(-0.1)
    assert result.history["policy/bias"][-1] == policy.bias.item()  # the trained bias
    assert result.run_dir is None


def test_tensorboard_events_hold_every_tag_at_every_logging_step(logdir):
    policy = pg.HungerPolicy()
    result = pg.train_supervised(
        policy, *pg.article_data(), steps=23, log_every=5, logdir=str(logdir)
    )
    scalars = read_scalars(result.run_dir)
    expected_tags = {
        "policy/bias",
        "grad/bias",
        "loss/mse",
        "p_b/hunger_0",
        "p_b/hunger_0.1",
        "p_b/hunger_0.9",
        "p_b/hunger_1",
    }
    assert expected_tags <= set(scalars)
    for tag in expected_tags - {"policy/bias"}:
        assert [step for step, _ in scalars[tag]] == [1, 5, 10, 15, 20, 23], tag
    # the bias also where it started, at step 0; then after each logged update
    assert scalars["policy/bias"][0] == (0, 0.0)
    assert [v for _, v in scalars["policy/bias"][1:]] == pytest.approx(
        result.history["policy/bias"]
    )
    # the first update's golden derivative, at bias 0; the last point is the trained policy
    assert scalars["grad/bias"][0][1] == pytest.approx(1.087390e-01, rel=1e-5)
    final = policy.bias.item()
    assert scalars["policy/bias"][-1] == (23, pytest.approx(final))
    p_b_final = torch.sigmoid(torch.tensor(final)).item()
    assert scalars["p_b/hunger_0"][-1] == (23, pytest.approx(p_b_final))


def test_the_run_records_settings_as_json_hparams_and_the_error_curve_figure(logdir):
    result = pg.train_supervised(
        pg.HungerPolicy(), *pg.article_data(), steps=5, lr=0.2, logdir=str(logdir)
    )
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["lr"] == 0.2 and saved["steps"] == 5 and saved["optimizer"] == "rprop"
    assert saved["trainer"] == "supervised" and saved["examples"] == 4
    assert saved["world_size"] == 1 and "world_size" not in result.run_dir.name  # one process
    acc = read_events(result.run_dir)
    hparams = acc.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(hparams["_hparams_/session_start_info"]).session_start_info
    assert (
        start.hparams["lr"].number_value == 0.2
        and start.hparams["optimizer"].string_value == "rprop"
    )
    # only what changes the training, and no experiment summary of this run's own, which would
    # make TensorBoard show one trainer's columns for every run in the folder
    assert "_hparams_/experiment" not in hparams
    assert {"lr", "optimizer", "steps", "seed"} <= set(start.hparams)  # the library call's settings
    assert not set(start.hparams) & {"logdir", "run_name", "log_every", "save_every", "figure"}
    assert acc.Tags()["images"] == ["figures/mse_vs_bias"]
    png = (result.run_dir / "mse_vs_bias.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert acc.Images("figures/mse_vs_bias")[0].encoded_image_string == png


def test_the_text_tab_has_a_row_per_setting_and_the_policy_s_repr_as_a_code_block(logdir):
    policy = pg.MLPPolicy(obs_dim=1, num_actions=2, hidden=(4,))  # a repr of several lines
    result = pg.train_reinforce(policy, steps=2, batch_size=8, logdir=str(logdir))
    (event,) = read_events(result.run_dir).Tensors("settings/text_summary")
    text = event.tensor_proto.string_val[0].decode()
    table, *rest = text.split("\n\n")
    lines = table.splitlines()
    assert lines[:2] == ["| setting | value |", "|---|---|"] and "| batch_size | 8 |" in lines
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])  # whole rows
    assert "| initial_policy | (below) |" in lines
    assert rest == ["**initial_policy**", f"```\n{policy!r}\n```"]


def test_the_default_run_folder_is_time_and_seed_and_is_never_reused(logdir):
    first = pg.train_supervised(
        pg.HungerPolicy(), *pg.article_data(), steps=2, seed=7, logdir=str(logdir), figure=False
    )
    second = pg.train_supervised(
        pg.HungerPolicy(), *pg.article_data(), steps=2, seed=7, logdir=str(logdir), figure=False
    )
    assert first.run_dir.parent == second.run_dir.parent == logdir / "supervised"
    assert first.run_dir.name.endswith("-seed7") or "-seed7-" in first.run_dir.name
    assert first.run_dir != second.run_dir
    assert len(list(first.run_dir.glob("events.out.tfevents.*"))) == 1


def test_a_default_run_name_says_which_hyperparameters_differ_from_the_defaults(logdir):
    """Runs with different flags can be told apart in TensorBoard's run list; where and how a
    run is recorded (logdir, cadences, figure) and the seed, already in the name, are not
    hyperparameters of the name."""
    names = [
        pg.train_supervised(
            pg.HungerPolicy(), *pg.article_data(), logdir=str(logdir), **settings
        ).run_dir.name
        for settings in (
            {"steps": 3, "figure": False, "log_every": 1, "seed": 4},
            {"steps": 3, "lr": 0.05, "optimizer": "sgd", "figure": False},
            {"steps": 200, "figure": False},  # every hyperparameter at its default
        )
    ]
    assert names[0].endswith("-seed4-steps=3")
    assert names[1].endswith("-seed0-steps=3,optimizer=sgd,lr=0.05")
    assert names[2].endswith("-seed0")


def test_a_run_name_holds_only_safe_characters_and_counts_what_does_not_fit():
    from pg.episodic import EpisodicConfig
    from pg.run.logger import changed_hyperparameters

    config = EpisodicConfig(env_id="my_envs:Corridor-v0", gamma=0.9, target_return=None)
    assert (
        changed_hyperparameters(config) == "env_id=my_envs_Corridor-v0,gamma=0.9,target_return=None"
    )
    many = EpisodicConfig(
        env_id="x" * 60, gamma=0.9, lr=0.5, entropy_coef=0.1, episodes_per_update=4, seed=9
    )
    # 67 characters shown; episodes_per_update would pass 80, so it and the 3 after it are counted
    assert changed_hyperparameters(many) == "env_id=" + "x" * 60 + ",+4"


def test_an_explicit_run_name_that_exists_is_refused_and_left_untouched(logdir):
    first = pg.train_supervised(
        pg.HungerPolicy(),
        *pg.article_data(),
        steps=2,
        run_name="mine",
        logdir=str(logdir),
        figure=False,
    )
    before = sorted(p.name for p in first.run_dir.iterdir())
    policy = pg.HungerPolicy()
    with pytest.raises(pg.UsageError, match="already exists"):
        pg.train_supervised(
            policy, *pg.article_data(), steps=2, run_name="mine", logdir=str(logdir)
        )
    assert sorted(p.name for p in first.run_dir.iterdir()) == before
    assert policy.bias.item() == 0.0  # refused before any training


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"steps": -1}, "steps must be an integer >= 1"),
        ({"steps": 2.5}, "steps must be an integer"),
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, "lr must be a finite number > 0"),
        ({"optimizer": "lbfgs"}, "optimizer must be one of sgd, adam, rprop"),
        ({"log_every": 0}, "log_every must be an integer >= 1"),
        ({"run_name": "../escape"}, "run_name must be a plain folder name"),
        ({"logdir": ""}, "logdir must be a folder path or None"),
    ],
)
def test_a_bad_setting_is_refused_with_one_clear_sentence(settings, words):
    with pytest.raises(pg.UsageError, match=words.replace("(", r"\(")):
        pg.train_supervised(pg.HungerPolicy(), *pg.article_data(), **{"logdir": None, **settings})


def test_an_unknown_setting_is_a_type_error_that_lists_the_known_ones():
    with pytest.raises(TypeError, match="unknown setting step; known: .*steps"):
        pg.train_supervised(pg.HungerPolicy(), *pg.article_data(), step=3)


def test_labels_of_the_wrong_shape_or_outside_0_1_are_refused():
    hunger, target = pg.article_data()
    with pytest.raises(pg.UsageError, match=r"target must have shape \(N,\)"):
        pg.train_supervised(pg.HungerPolicy(), hunger, target[:3], logdir=None)
    with pytest.raises(pg.UsageError, match=r"probabilities in \[0, 1\]"):
        pg.train_supervised(pg.HungerPolicy(), hunger, target * 2, logdir=None)


def test_a_logdir_that_cannot_hold_folders_is_refused_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(pg.UsageError, match="cannot create run folder"):
        pg.train_supervised(pg.HungerPolicy(), *pg.article_data(), logdir=str(blocker / "logs"))


class FailsAtCall(pg.HungerPolicy):
    """Raises on its 8th forward pass, as a bug or a Ctrl-C in the middle of training would."""

    def __init__(self, error):
        super().__init__()
        self.calls, self.error = 0, error

    def logits(self, obs):
        self.calls += 1
        if self.calls == 8:
            raise self.error
        return super().logits(obs)


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_events_written_before_a_crash_or_ctrl_c_are_flushed_to_disk(logdir, error):
    with pytest.raises(type(error)):
        pg.train_supervised(
            FailsAtCall(error), *pg.article_data(), steps=50, log_every=2, logdir=str(logdir)
        )
    scalars = read_scalars(only_run_dir(logdir, "supervised"))
    # the start, the first update, every 2nd; the 8th forward pass (in update 5) raised
    assert [step for step, _ in scalars["policy/bias"]] == [0, 1, 2, 4]


def test_float64_policy_and_float32_data_train_in_the_policy_dtype():
    policy = pg.HungerPolicy(dtype=torch.float64)
    result = pg.train_supervised(policy, *pg.article_data(torch.float32), logdir=None)
    assert policy.bias.dtype == torch.float64
    assert result.loss == pytest.approx(5.726034e-08, rel=1e-4)


def test_a_library_call_writes_no_files_unless_given_a_logdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    supervised = pg.train_supervised(pg.HungerPolicy(), *pg.article_data(), steps=3)
    reinforce = pg.train_reinforce(pg.HungerPolicy(), steps=3, batch_size=8)
    episodic = pg.train_episodic(pg.MLPPolicy(4, 2, hidden=(8,)), total_steps=50)
    assert supervised.run_dir is reinforce.run_dir is episodic.run_dir is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("trainer", ["supervised", "reinforce"])
def test_no_figure_leaves_out_the_figure_and_nothing_else(logdir, trainer):
    def train(**settings):
        if trainer == "supervised":
            return pg.train_supervised(pg.HungerPolicy(), *pg.article_data(), **settings)
        return pg.train_reinforce(pg.HungerPolicy(), batch_size=64, **settings)

    drawn = train(steps=4, logdir=str(logdir), run_name="drawn")
    skipped = train(steps=4, logdir=str(logdir), run_name="skipped", figure=False)
    assert [p.suffix for p in drawn.run_dir.iterdir()].count(".png") == 1
    assert not any(p.suffix == ".png" for p in skipped.run_dir.iterdir())
    assert read_events(skipped.run_dir).Tags()["images"] == []
    assert read_scalars(skipped.run_dir) == read_scalars(drawn.run_dir)


def test_misuse_of_the_library_gets_a_clear_error_not_a_crash_deep_inside():
    class Empty(pg.Policy):
        def logits(self, obs):
            return obs.reshape(-1)

    class ThreeWays(pg.MLPPolicy):
        def __init__(self):
            super().__init__(obs_dim=1, hidden=(4,), num_actions=3)

    hunger, target = pg.article_data()
    with pytest.raises(pg.UsageError, match="the policy has no parameters"):
        pg.train_supervised(Empty(), hunger, target)
    with pytest.raises(pg.UsageError, match="the policy must give 2, got 3"):
        pg.train_reinforce(ThreeWays(), steps=2)
    with pytest.raises(pg.UsageError, match="float32 or float64 policy, got torch.bfloat16"):
        pg.train_supervised(pg.HungerPolicy(dtype=torch.bfloat16), hunger, target)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pg.HungerPolicy(device="cuda")
    # the caller's tensors are data: they are read, never given gradients
    watched = hunger.clone().requires_grad_(), target.clone().requires_grad_()
    pg.train_supervised(pg.HungerPolicy(train_weight=True), *watched, steps=3)
    assert watched[0].grad is None and watched[1].grad is None


def test_the_figure_s_curve_is_the_same_computed_a_few_biases_at_a_time(logdir, monkeypatch):
    # the curve is evaluated in chunks so that its memory does not grow with the data (a 16.7M-row
    # file would otherwise ask 27 GB); the chunking changes no value beyond float32 rounding
    from matplotlib.figure import Figure

    drawn = []
    monkeypatch.setattr(pg.figures, "loss_curve", lambda *a, **k: drawn.append(a) or Figure())
    for elements in (1 << 22, 8):  # all 401 biases at once; then 2 biases of 4 examples a time
        monkeypatch.setattr(pg.supervised, "CURVE_ELEMENTS", elements)
        pg.train_supervised(pg.HungerPolicy(), *pg.article_data(), steps=3, logdir=str(logdir))
    whole, chunked = drawn  # (biases, MSE, slope, path) each
    assert len(whole[0]) == 401 and whole[0] == chunked[0] and whole[3] == chunked[3]
    for curve in (1, 2):  # the MSE and its slope
        assert chunked[curve] == pytest.approx(whole[curve], rel=1e-6, abs=1e-12)


def test_a_long_run_s_returned_history_stays_bounded_and_evenly_spaced(monkeypatch):
    from pg.run import logger

    full = pg.train_supervised(pg.HungerPolicy(), *pg.article_data(), steps=40, log_every=1)
    monkeypatch.setattr(logger, "HISTORY_POINTS", 8)
    kept = pg.train_supervised(pg.HungerPolicy(), *pg.article_data(), steps=40, log_every=1)
    # 40 points into 8: halved at 9 (stride 2), 17 (stride 4) and 33 (stride 8) points seen
    assert kept.history["step"] == [1, 9, 17, 25, 33]
    where = [full.history["step"].index(s) for s in kept.history["step"]]
    for tag, values in kept.history.items():
        assert values == [full.history[tag][i] for i in where], tag


def test_a_result_prints_as_a_one_line_summary_without_its_history():
    result = pg.train_supervised(pg.HungerPolicy(), *pg.article_data(), logdir=None)
    text = repr(result)
    assert len(result.history["step"]) == 21  # the history is there to read
    assert "history" not in text and "\n" not in text and len(text) < 300
    assert "loss=5.7" in text and "steps=200" in text
