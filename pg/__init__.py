"""pg: why policy gradients exist, in runnable and tested PyTorch.

One tiny policy, p(B) = sigmoid(weight * hunger + bias), trained two ways on the same module:
with known labels (`train_supervised`: MSE + autograd) and without them (REINFORCE).
"""

from pg.config import UsageError
from pg.data import DataError, article_data, load_csv
from pg.policy import HungerPolicy, Policy
from pg.supervised import SupervisedConfig, SupervisedResult, train_supervised

__all__ = [
    "DataError",
    "HungerPolicy",
    "Policy",
    "SupervisedConfig",
    "SupervisedResult",
    "UsageError",
    "article_data",
    "load_csv",
    "train_supervised",
]
