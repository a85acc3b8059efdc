"""Plain PyTorch models that hpray tunes. Config options in conf/model/ name them by _target_.

Imports torch alone: no other part of hpray, and no Hydra.
"""

from hpray.models.cnn import CNN
from hpray.models.mlp import MLP

__all__ = ["CNN", "MLP"]
