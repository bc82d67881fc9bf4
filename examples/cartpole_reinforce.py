"""REINFORCE with baseline on CartPole-v1, in one file: the hunger bandit's loss on whole episodes.

An action's consequences now unfold over many steps, so each log-probability is weighted by the
discounted reward that followed it, its reward-to-go G_t = r_t + gamma * r_{t+1} + ... to the
end of its episode, less a baseline v(s_t): an estimate of the return expected from that state,
which learns from the same episodes. A baseline that depends only on the state leaves the
expected gradient exactly as it was and cuts its variance (Williams, 1992; Sutton & Barto,
sections 13.3 and 13.4). Sixteen CartPoles run side by side; each update takes the first whole
episode of each. Training stops once the mean return of the last 100 episodes reaches 475.

This is what `pg.train_episodic` does with its defaults, without the run machinery (logging,
checkpoints, signals, torchrun), and it prints the same numbers.

    python examples/cartpole_reinforce.py
"""

from collections import deque

import gymnasium as gym
import numpy as np
import torch
from torch import nn

torch.set_num_threads(1)  # small tensors: one thread is the fastest


def collect_episodes(envs, policy: nn.Module, generator: torch.Generator):
    """Reset every environment and step them together until each has finished one episode.

    Returns (T, N) tensors: observations (with a last dim of 4), actions, rewards, and `valid`,
    which marks the steps that belong to an episode (an environment that finished early idles).
    """
    obs, _ = envs.reset()
    alive = np.ones(envs.num_envs, dtype=bool)
    steps = []
    while alive.any():
        o = torch.as_tensor(obs, dtype=torch.float32)  # (N, 4)
        with torch.no_grad():
            logits = policy(o).squeeze(-1)  # (N,) logit of pushing right
            u = torch.rand(len(logits), generator=generator)
            action = (u >= torch.sigmoid(-logits)).float()  # sampled: 1 with probability p
        obs, reward, terminated, truncated, _ = envs.step(action.long().numpy())
        steps.append((o, action, np.where(alive, reward, 0.0), alive.copy()))
        alive &= ~(terminated | truncated)
    obs_t, action_t = torch.stack([s[0] for s in steps]), torch.stack([s[1] for s in steps])
    reward_t = torch.as_tensor(np.stack([s[2] for s in steps]), dtype=torch.float32)
    valid = torch.as_tensor(np.stack([s[3] for s in steps]))
    return obs_t, action_t, reward_t, valid


def reward_to_go(reward: torch.Tensor, valid: torch.Tensor, gamma: float) -> torch.Tensor:
    """(T, N) G_t, computed backwards: G_t = r_t + gamma * G_{t+1}, cut where an episode ends."""
    done = valid & ~torch.cat([valid[1:], torch.zeros_like(valid[:1])])  # an episode's last step
    keep = (~done).float()
    returns, running = torch.empty_like(reward), torch.zeros_like(reward[0])
    for t in reversed(range(len(reward))):
        running = reward[t] + gamma * keep[t] * running
        returns[t] = running
    return returns


def mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
    )


def train(seed=1, episodes_per_update=16, lr=0.01, gamma=0.99, value_lr=3e-3, value_updates=5):
    torch.manual_seed(seed)  # the initial weights
    policy, value_fn = mlp(), mlp()  # the logit of pushing right; v(s), the baseline
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    value_optimizer = torch.optim.Adam(value_fn.parameters(), lr=value_lr)
    generator = torch.Generator().manual_seed(seed)  # the actions' random draws
    envs = gym.make_vec("CartPole-v1", num_envs=episodes_per_update)
    envs.reset(seed=seed)
    recent = deque(maxlen=100)  # the returns of the last 100 episodes
    episodes = env_steps = 0
    while env_steps < 500_000:
        obs, action, reward, valid = collect_episodes(envs, policy, generator)
        states, n = obs[valid], valid.shape[1]  # (S, 4) the steps of the N episodes
        returns = reward_to_go(reward, valid, gamma)[valid]  # (S,) G_t
        with torch.no_grad():  # the baseline as it is now: data, no gradient reaches it
            advantage = returns - value_fn(states).squeeze(-1)  # G_t - v(s_t)
        t = torch.arange(len(reward), dtype=torch.float32)
        weight = advantage * (gamma**t)[:, None].expand(valid.shape)[valid]  # gamma^t (G_t - v)
        logits = policy(states).squeeze(-1)  # (S,) again, now with gradients
        log_prob = torch.distributions.Bernoulli(logits=logits).log_prob(action[valid])
        # -(1/N) sum over the episodes of sum_t weight log p(a_t | s_t)
        loss = -(weight * log_prob).mean() * (len(log_prob) / n)

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for _ in range(value_updates):  # then v learns from this batch: v(s_t) towards G_t
            value_loss = 0.5 * (returns - value_fn(states).squeeze(-1)).pow(2).sum() / n
            value_optimizer.zero_grad()
            value_loss.backward()
            value_optimizer.step()
        returns = reward.sum(dim=0)  # (N,) each episode's return
        recent.extend(returns.tolist())
        episodes, env_steps = episodes + len(returns), env_steps + int(valid.sum())
        if len(recent) == 100 and np.mean(recent) >= 475:  # solved
            break
    envs.close()
    return np.mean(recent), episodes, env_steps


def main() -> None:
    mean_return, episodes, env_steps = train()
    verdict = "solved" if mean_return >= 475 else "not solved"
    print(f"CartPole-v1 {verdict}: mean return {mean_return:.1f} over the last 100 episodes")
    print(f"after {episodes} episodes, {env_steps} environment steps")


if __name__ == "__main__":
    main()
