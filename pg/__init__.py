"""pg: why policy gradients exist, in runnable and tested PyTorch.

One tiny policy, p(B) = sigmoid(weight * hunger + bias), trained two ways on the same module:
with known labels (`train_supervised`, whose update is `supervised_step`: MSE and autograd) and
without them (`train_reinforce`, whose update is `reinforce_step`: sample an action, guess it was
right, weight the guess by its reward). Bigger networks subclass `Policy` and override `logits`;
`train_episodic` runs the same loss on Gymnasium episodes (`episodic_step`: `collect_episodes`,
then `episodic_loss`). The run machinery (folders, events, checkpoints, signals, torchrun) lives
in `pg.run`; the exact math the tests hold everything to, in `pg.exact`.
"""

from importlib.metadata import PackageNotFoundError, version

from pg.data import DataError, article_data, load_csv
from pg.env import HungerBandit
from pg.episodes import Episodes, collect_episodes
from pg.episodic import EpisodicConfig, EpisodicResult, episodic_step, train_episodic
from pg.evaluate import evaluate, load_policy
from pg.losses import (
    MeanBaseline,
    episodic_loss,
    reinforce_loss,
    reward_to_go,
    standardize,
    value_loss,
)
from pg.policy import (
    GaussianMLPPolicy,
    HungerPolicy,
    MLPPolicy,
    Policy,
    actions_from_uniform,
    mlp,
    sample_actions,
)
from pg.reinforce import ReinforceConfig, ReinforceResult, reinforce_step, train_reinforce
from pg.run.settings import UsageError
from pg.run.stopping import NonFiniteError, RunFault
from pg.supervised import SupervisedConfig, SupervisedResult, supervised_step, train_supervised
from pg.value import ValueMLP

__all__ = [
    "DataError",
    "EpisodicConfig",
    "EpisodicResult",
    "Episodes",
    "GaussianMLPPolicy",
    "HungerBandit",
    "HungerPolicy",
    "MLPPolicy",
    "MeanBaseline",
    "NonFiniteError",
    "Policy",
    "ReinforceConfig",
    "ReinforceResult",
    "RunFault",
    "SupervisedConfig",
    "SupervisedResult",
    "UsageError",
    "ValueMLP",
    "actions_from_uniform",
    "article_data",
    "collect_episodes",
    "episodic_loss",
    "episodic_step",
    "evaluate",
    "load_csv",
    "load_policy",
    "mlp",
    "reinforce_loss",
    "reinforce_step",
    "reward_to_go",
    "sample_actions",
    "standardize",
    "supervised_step",
    "train_episodic",
    "train_reinforce",
    "train_supervised",
    "value_loss",
]

try:
    __version__ = version("pg")
except PackageNotFoundError:  # run from a checkout that was not installed
    __version__ = "0+unknown"
