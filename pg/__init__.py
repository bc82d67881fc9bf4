"""pg: why policy gradients exist, in runnable and tested PyTorch.

One tiny policy, p(B) = sigmoid(weight * hunger + bias), trained two ways on the same module:
with known labels (`supervised_step`, repeated by `train_supervised`: MSE + autograd) and without
them (`reinforce_step`, repeated by `train_reinforce`: sample an action, guess it was right,
weight the guess by its reward). Bigger networks subclass `Policy` and override `logits`;
`train_episodic` runs the same loss on Gymnasium episodes (`collect_episodes`, `episodic_loss`).
The run machinery (folders, events, checkpoints, signals, torchrun) lives in `pg.run`.
"""

import importlib
import importlib.util
from importlib.metadata import PackageNotFoundError, version

import lazy_loader

# `import pg` loads no torch: each name is imported from its module on first use (the names and
# their modules are `__init__.pyi`). So a command-line program can hold Ctrl-C back before the
# slow imports begin (`pg.commands.launch`), and `python -m pg --help` answers at once.
_name_getattr, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)


def __getattr__(name: str):
    """A name from `__init__.pyi`, or a submodule (`pg.exact`, `pg.run`), imported on first use."""
    if name in __all__:
        return _name_getattr(name)
    if name.startswith("_") or importlib.util.find_spec(f"{__name__}.{name}") is None:
        raise AttributeError(f"module 'pg' has no attribute {name!r}")
    return importlib.import_module(f"{__name__}.{name}")


try:
    __version__ = version("pg")
except PackageNotFoundError:  # run from a checkout that was not installed
    __version__ = "0+unknown"
