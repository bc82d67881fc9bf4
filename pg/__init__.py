"""pg: why policy gradients exist, in runnable and tested PyTorch.

One tiny policy, p(B) = sigmoid(weight * hunger + bias), trained two ways on the same module:
with known labels (`train_supervised`: MSE + autograd) and without them (`train_reinforce`:
sample an action, guess it was right, weight the guess by its reward). Bigger networks subclass
`Policy` and override `logits`; `train_episodic` runs the same loss on Gymnasium episodes.
"""

from pg.config import UsageError
from pg.data import DataError, article_data, load_csv
from pg.env import HungerBandit
from pg.episodic import EpisodicConfig, EpisodicResult, train_episodic
from pg.losses import MeanBaseline, reinforce_loss
from pg.mlp import MLPPolicy, mlp
from pg.policy import HungerPolicy, Policy, actions_from_uniform, sample_actions
from pg.reinforce import ReinforceConfig, ReinforceResult, train_reinforce
from pg.returns import normalize_returns, reward_to_go
from pg.supervised import SupervisedConfig, SupervisedResult, train_supervised

__all__ = [
    "DataError",
    "EpisodicConfig",
    "EpisodicResult",
    "MLPPolicy",
    "HungerBandit",
    "HungerPolicy",
    "MeanBaseline",
    "Policy",
    "ReinforceConfig",
    "ReinforceResult",
    "SupervisedConfig",
    "SupervisedResult",
    "UsageError",
    "actions_from_uniform",
    "article_data",
    "load_csv",
    "mlp",
    "normalize_returns",
    "reinforce_loss",
    "reward_to_go",
    "sample_actions",
    "train_episodic",
    "train_reinforce",
    "train_supervised",
]
