"""What `pg` offers and where each name is defined.

`pg/__init__.py` loads these lazily (`lazy_loader` reads this file), so type checkers and editors
see ordinary imports while `import pg` itself stays light. `X as X` is how a stub says that the
name is re-exported.
"""

from .data import DataError as DataError, article_data as article_data, load_csv as load_csv
from .env import HungerBandit as HungerBandit
from .episodes import Episodes as Episodes, collect_episodes as collect_episodes
from .episodic import (
    EpisodicConfig as EpisodicConfig,
    EpisodicResult as EpisodicResult,
    train_episodic as train_episodic,
)
from .evaluate import evaluate as evaluate, load_policy as load_policy
from .losses import (
    MeanBaseline as MeanBaseline,
    episodic_loss as episodic_loss,
    normalize_returns as normalize_returns,
    reinforce_loss as reinforce_loss,
    reward_to_go as reward_to_go,
)
from .policy import (
    GaussianMLPPolicy as GaussianMLPPolicy,
    HungerPolicy as HungerPolicy,
    MLPPolicy as MLPPolicy,
    Policy as Policy,
    actions_from_uniform as actions_from_uniform,
    mlp as mlp,
    sample_actions as sample_actions,
)
from .reinforce import (
    ReinforceConfig as ReinforceConfig,
    ReinforceResult as ReinforceResult,
    reinforce_step as reinforce_step,
    train_reinforce as train_reinforce,
)
from .run.config import UsageError as UsageError
from .run.stopping import NonFiniteError as NonFiniteError, RunFault as RunFault
from .supervised import (
    SupervisedConfig as SupervisedConfig,
    SupervisedResult as SupervisedResult,
    supervised_step as supervised_step,
    train_supervised as train_supervised,
)

__version__: str
