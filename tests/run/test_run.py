"""`pg.run.Run`, the helper a trainer's loop calls: what it counts, when it logs and saves, and
that it leaves the update (zero_grad, backward, step) to the trainer."""

from __future__ import annotations

import pytest
import torch

import pg
from pg.run import Run
from pg.run.checkpoint import NonFiniteError

from conftest import read_events, read_scalars


def tiny_run(tmp_path, total: int, **settings) -> tuple[Run, torch.nn.Module, torch.optim.SGD]:
    policy = pg.MLPPolicy(2, 2, (3,))
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.1)
    config = pg.ReinforceConfig(logdir=str(tmp_path), figure=False, **settings)
    return Run("test", config, policy, optimizer, total=total), policy, optimizer


def loss_of(policy: torch.nn.Module) -> torch.Tensor:
    return -policy.distribution(torch.ones(1, 2)).log_prob(torch.ones(1)).sum()


def test_histograms_come_every_10th_logging_point_and_at_the_last_by_default(tmp_path):
    run, policy, optimizer = tiny_run(tmp_path, total=25, log_every=1)
    with run:
        for _ in run.steps():
            loss = loss_of(policy)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if run.logging:
                run.log({"loss/test": loss})
    steps = [h.step for h in read_events(run.run_dir).Histograms("params/net.0.weight")]
    assert steps == [1, 11, 21, 25]  # the 1st, 11th and 21st points, and the last


def test_it_logs_the_first_update_every_log_every_th_and_the_last_at_the_step_each_reached(
    tmp_path,
):
    run, policy, optimizer = tiny_run(tmp_path, total=23, log_every=5)
    with run:
        for step in run.steps():
            assert step == run.step  # the steps done before this update
            if run.logging:
                run.log({"loss/test": loss_of(policy), "x": float(step + 1)})
    assert run.history["step"] == [1, 5, 10, 15, 20, 23] == run.history["x"]
    assert [s for s, _ in read_scalars(run.run_dir)["loss/test"]] == [1, 5, 10, 15, 20, 23]
    assert run.step == 23 and run.outcome()["interrupted"] is None


def test_advance_counts_environment_steps_and_a_final_update_is_logged_and_ends_the_run(tmp_path):
    run, policy, optimizer = tiny_run(tmp_path, total=1000, log_every=10)
    with run:
        for step in run.steps():
            run.advance(7, final=step == 14)  # the third update solves the task
            if run.logging:
                run.log({"loss/test": loss_of(policy)})
    assert run.step == 21 and run.finished
    assert run.history["step"] == [7, 21]  # the first update and the final one, once made


def test_the_run_leaves_zero_grad_backward_and_the_optimiser_step_to_the_trainer(tmp_path):
    run, policy, optimizer = tiny_run(tmp_path, total=3, log_every=1)
    before = [p.detach().clone() for p in policy.parameters()]
    with run:
        for _ in run.steps():
            loss = loss_of(policy)
            loss.backward()  # no zero_grad, no step: the gradients add up, nothing moves
            run.check_finite(loss)
            if run.logging:
                run.log({"loss/test": loss})
    assert all(torch.equal(p, q) for p, q in zip(policy.parameters(), before))
    (grad,) = torch.autograd.grad(loss_of(policy), policy.net[0].weight)
    assert torch.allclose(policy.net[0].weight.grad, 3 * grad)


def test_a_non_finite_loss_stops_the_run_before_the_step_naming_it(tmp_path):
    run, policy, optimizer = tiny_run(tmp_path, total=10, log_every=100, save_every=2)
    with pytest.raises(NonFiniteError) as caught, run:
        for step in run.steps():
            loss = loss_of(policy) * (float("nan") if step == 5 else 1.0)
            optimizer.zero_grad()
            loss.backward()
            run.check_finite(loss)
            optimizer.step()
    assert str(caught.value).startswith("non-finite loss at step 6: nan; the last good checkpoint")
    assert str(caught.value).endswith("checkpoint.pt (step 4)")
    assert all(bool(torch.isfinite(p).all()) for p in policy.parameters())


def test_a_non_finite_gradient_under_a_finite_loss_stops_the_run_before_the_step_naming_it(
    tmp_path,
):
    run, policy, optimizer = tiny_run(tmp_path, total=10, log_every=100)
    before = [p.detach().clone() for p in policy.parameters()]
    with pytest.raises(NonFiniteError) as caught, run:
        for step in run.steps():
            weight = policy.net[0].weight
            loss = loss_of(policy)
            if step == 3:  # d sqrt(x) / dx at 0 is infinite: 0 * inf makes the gradient NaN
                loss = loss + torch.sqrt(weight.sum() * 0.0)
            optimizer.zero_grad()
            loss.backward()
            assert torch.isfinite(loss)  # only the gradient is bad
            run.check_finite(loss)
            optimizer.step()
    assert str(caught.value).startswith("non-finite gradient of net.0.weight at step 4")
    assert all(bool(torch.isfinite(p).all()) for p in policy.parameters())  # never applied
    assert not all(torch.equal(p, q) for p, q in zip(policy.parameters(), before))  # 3 steps were
