"""§3 "latent weights are inertia": the experiments the paper describes in prose only.

The authors' code has none of these; their set-up here is ours and is stated in each
docstring. Scales: ``quick`` (the default for ``make inertia``: quarter-width BinaryNet
as in the CIFAR-10 quick runs) and ``tiny`` (tests). ``paper`` uses the full model and
data; the paper gives no epochs for these, so it keeps the quick epoch counts.
"""
from zookeeper import ComponentField, Field, component
from zookeeper.core.partial_component import PartialComponent

from configs.cifar10 import QUICK_MODEL, TINY, Cifar10Experiment, Sec52Adam
from experiments.inertia import tasks
from experiments.optimizers import Optimizer
from experiments.optimizers.latent import LatentAdam, LatentSGD
from experiments.optimizers.schedules import Constant

QUICK = {**QUICK_MODEL, "train_subset": 20000}


@component
class Sec3(Cifar10Experiment):
    """Shared by the §3 experiments: quick scale by default, 5 epochs, batch 100."""

    section = "3"
    scales = {"paper": {}, "quick": {**QUICK, "epochs": 5}, "tiny": TINY}
    scale: str = Field("quick")
    epochs: int = Field(5)
    batch_size: int = Field(100)


@component
class Sec3Approximation(Sec3):
    """§3 approximation test: latent-weight Adam (ste_sign, clip 1, Xavier scaling,
    lr 1e-3); after training, accuracy with binary weights, with latent weights in
    their place, and with latent weights plus re-estimated batch-norm statistics
    (``approximation.json``). Paper (no numbers): comparable or lower.

    Command: ``bnn run sec3_approximation`` (quick scale by default), or with its group
      ``make sec3``.
    Reported: no number published (``results/reported.yaml`` says why).
    Time (recorded by the committed runs): paper not measured; quick 2m13s of training per
      run (median of 3, 2m07s-2m14s; Intel Xeon · 2 cores)."""

    name = "sec3_approximation"
    optimizer: Optimizer = ComponentField(
        LatentAdam, lr=PartialComponent(Constant, value=1e-3), clip=1.0, xavier_scaling=True)

    task = staticmethod(tasks.run_approximation)  # train, then the approximation test


@component
class Sec3Sgd(Sec3):
    """§3 learning rate vs initial scale: SGD on latent weights with Glorot init, no
    clipping, an STE that passes the gradient at any |w~| (Theorem 1's conditions).
    The binary kernels' rate is ``lr * binary_lr_multiplier``; batch-norm keeps
    lr = 0.01 in every run so that only the latent weights differ."""

    optimizer: Optimizer = ComponentField(
        LatentSGD, lr=PartialComponent(Constant, value=0.01), clip=0.0, ste_clip_value=0.0)


@component
class Sec3SgdLr1(Sec3Sgd):
    """§3: SGD, binary learning rate 1, Glorot init.

    Command: ``bnn run sec3_sgd_lr_1`` (quick scale by default), or with its group
      ``make sec3``.
    Reported: no number published (``results/reported.yaml`` says why).
    Time (recorded by the committed runs): paper not measured; quick 2m15s of training per
      run (median of 3, 2m13s-3m11s; Intel Xeon · 2 cores)."""

    name = "sec3_sgd_lr_1"
    optimizer: Optimizer = ComponentField(
        LatentSGD, lr=PartialComponent(Constant, value=0.01), clip=0.0, ste_clip_value=0.0,
        binary_lr_multiplier=100.0)


@component
class Sec3SgdLr001(Sec3Sgd):
    """§3: SGD, binary learning rate 0.01, Glorot init.

    Command: ``bnn run sec3_sgd_lr_0.01`` (quick scale by default), or with its group
      ``make sec3``.
    Reported: no number published (``results/reported.yaml`` says why).
    Time (recorded by the committed runs): paper not measured; quick 2m12s of training per
      run (median of 3, 2m04s-3m09s; Intel Xeon · 2 cores)."""

    name = "sec3_sgd_lr_0.01"


@component
class Sec3SgdLr001Init001(Sec3Sgd):
    """§3: SGD, binary learning rate 0.01, Glorot init x 0.01 (Theorem 1: = lr 1).

    Command: ``bnn run sec3_sgd_lr_0.01_init_0.01`` (quick scale by default), or with its
      group ``make sec3``.
    Reported: no number published (``results/reported.yaml`` says why).
    Time (recorded by the committed runs): paper not measured; quick 2m14s of training per
      run (median of 3, 2m01s-3m19s; Intel Xeon · 2 cores)."""

    name = "sec3_sgd_lr_0.01_init_0.01"
    scales = {"paper": {"model.kernel_init_scale": 0.01},
              "quick": {**QUICK, "epochs": 5, "model.kernel_init_scale": 0.01},
              "tiny": {**TINY, "model.kernel_init_scale": 0.01}}


@component
class Sec3AdamConstant(Sec52Adam):
    """§3 "decay raises inertia": the §5.2 latent-weight Adam baseline with a constant
    learning rate, to compare its flip rate with the decayed ``sec52_adam``. Quick by
    default like every §3 experiment, so ``make inertia`` compares it with the quick
    ``sec52_adam`` run; ``scale=paper`` pairs it with the paper-scale one.

    Command: ``bnn run sec3_adam_constant`` (quick scale by default), or with its group
      ``make sec3``.
    Reported: no number published (``results/reported.yaml`` says why).
    Time (recorded by the committed runs): paper not measured; quick 4m07s of training per
      run (median of 3, 3m49s-4m22s; Intel Xeon · 2 cores)."""

    name = "sec3_adam_constant"
    section = "3"
    scale: str = Field("quick")
    scales = {"paper": {},
              "quick": {k: v for k, v in Sec52Adam.scales["quick"].items()
                        if not k.startswith("optimizer.lr")},
              "tiny": TINY}
    optimizer: Optimizer = ComponentField(
        LatentAdam, lr=PartialComponent(Constant, value=1e-3), clip=1.0, xavier_scaling=True,
        ste="ste_sign")


# Theorem 1 pairs: (label, optimizer overrides shared by both runs, whether the theorem's
# conditions hold). The scaled run adds binary_lr_multiplier *= c, kernel_init_scale = c.
THEOREM1_VARIANTS = [
    ("sgd", {"optimizer": "LatentSGD", "optimizer.binary_lr_multiplier": 100.0}, True),
    ("adam", {"optimizer": "LatentAdam", "optimizer.binary_lr_multiplier": 1.0}, True),
    ("sgd_weight_clip", {"optimizer": "LatentSGD", "optimizer.binary_lr_multiplier": 100.0,
                         "optimizer.clip": 1.0}, False),
    ("sgd_ste_cut_at_1", {"optimizer": "LatentSGD", "optimizer.binary_lr_multiplier": 100.0,
                          "optimizer.ste_clip_value": 1.0}, False),
]


@component
class Sec3Theorem1(Sec3Sgd):
    """§3 Theorem 1: runs with (α, w0) and (c·α, c·w0), c in ``factors``, stepped in
    lockstep on the same real CIFAR-10 batches, compared on their binary weights after
    every step - for SGD and Adam under the theorem's conditions (no clipping, STE
    independent of |w~|), and for SGD with weight clipping or larq's ste_sign (gradient
    cut at |w~| > 1), where the theorem does not apply. Writes ``theorem1.json``.

    Command: ``bnn run sec3_theorem1`` (quick scale by default), or with its group
      ``make sec3``.
    Reported: no number published (``results/reported.yaml`` says why).
    Time (recorded by the committed runs): paper not measured; quick 5m45s of training (1
      run, Intel Xeon · 2 cores)."""

    name = "sec3_theorem1"
    scales = {"paper": {}, "quick": {**QUICK, "epochs": 2, "train_subset": 5000},
              "tiny": TINY}
    epochs: int = Field(2)
    batch_size: int = Field(50)
    factors: tuple = Field((0.01, 100.0))

    task = staticmethod(tasks.run_theorem1)  # lockstep pairs, no curves of its own
    variants = THEOREM1_VARIANTS
    pair_base = Sec3Sgd  # each pair's two runs are this experiment with the overrides
