"""Beyond the paper: Bop2ndOrder (Suarez-Ramirez et al., "Bop and Beyond", 2021) on
CIFAR-10, as its authors give it (CuauSuarez/Bop2ndOrder,
``bnn_optimization/models/binarynet_batch.py``, preset ``bop2ndOrder_CIFAR``): the same
BinaryNet and augmentation as §5.2 (their ``binarynet_batch`` is the Bop authors'
network; ``resize_and_flip`` pads to 40 and crops 32 with a random flip), batch 50, 500
epochs, every hyperparameter linear over the whole run (see
``experiments.optimizers.bop2ndorder.Bop2ndOrder``). Reported: 91.9 % (biased form).
"""
from zookeeper import ComponentField, Field, component

from configs.cifar10 import QUICK_MODEL, TINY
from experiments.optimizers.bop2ndorder import Bop2ndOrder
from experiments.engine.experiment import Cifar10Experiment
from experiments.optimizers import Optimizer


@component
class Sec52Bop2ndOrder(Cifar10Experiment):
    """Bop2ndOrder (biased) on BinaryNet, CIFAR-10: their bop2ndOrder_CIFAR preset.
    Reported: 91.9 % test accuracy (their README)."""

    name = "sec52_bop2ndorder"
    section = "beyond"
    # quick: the §5.2 quick scale (the schedules are relative to the run's length)
    scales = {"paper": {}, "quick": {**QUICK_MODEL, "epochs": 8, "train_subset": 20000},
              "tiny": TINY}
    epochs: int = Field(500)
    batch_size: int = Field(50)
    optimizer: Optimizer = ComponentField(Bop2ndOrder)
