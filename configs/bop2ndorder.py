"""Beyond the paper: Bop2ndOrder (Suarez-Ramirez et al., "Bop and Beyond", 2021), as its
authors give it (CuauSuarez/Bop2ndOrder, ``conference`` branch, presets in
``bnn_optimization/models/``; the README there names one preset per result).

* CIFAR-10 (their §5.2): ``binarynet_batch.py``, presets ``bop2ndOrder_CIFAR`` (biased,
  91.9 %) and ``bop2ndOrder_unbiased_CIFAR`` (unbiased, 91.4 %), the same numbers in both:
  batch 50, 500 epochs, every hyperparameter linear over the whole run (``PolynomialDecay``,
  power 1, over ``500 * 50000 // 50`` steps). The network and augmentation are §5.2's
  (their ``binarynet_batch`` is the Bop authors' BinaryNet; ``resize_and_flip`` pads to 40
  and crops 32 with a random flip).
* ImageNet (their §5.3): ``xnor_batch.py`` and ``birealnet_batch.py``, preset
  ``bop2ndOrder_ImageNet``, both with the *biased* class: batch 1024, tau 1e-8 -> 1e-5
  (rising), gamma 1e-4 -> 1e-9, sigma 1e-5 -> 1e-2, Adam 2.5e-3 -> 5e-6, all linear over
  ``epochs * 1281167 // 1024`` steps; 100 epochs for XNOR-Net (46.9 % top-1), 150 for
  Bi-Real Net (57.2 %). Their ``xnornet_batch`` and ``birealnet_batch`` are the Bop
  authors' XNOR-Net and Bi-Real Net with the binary kernels marked ``NoOp(precision=1)``,
  so the §5.3 networks, preprocessing and reduced scales (``configs/imagenet.py``) apply.

Scales: ``quick`` and ``tiny`` are the §5.2 / §5.3 ones (``configs/cifar10.py``,
``configs/imagenet.py``); every schedule is relative to the run's length, so a reduced
run keeps each preset's start and end values.
"""
from zookeeper import ComponentField, Field, component

from configs.cifar10 import LONG, QUICK_MODEL, TINY, Cifar10Experiment
from configs.imagenet import Sec53BiRealNet, Sec53XNORNet, linear
from experiments.optimizers import Optimizer
from experiments.optimizers.bop2ndorder import Bop2ndOrder
from experiments.optimizers.bop2ndorder_unbiased import Bop2ndOrderUnbiased


# CIFAR-10 --------------------------------------------------------------------------------
@component
class Sec52Bop2ndOrder(Cifar10Experiment):
    """Bop2ndOrder (biased) on BinaryNet, CIFAR-10: their bop2ndOrder_CIFAR preset.
    Reported: 91.9 % test accuracy (their README).

    Command: ``bnn run sec52_bop2ndorder``, or with its group ``make beyond``; reduced
      scale: ``scale=quick`` or ``scale=long``.
    Reported: 91.9 % test accuracy (Suarez-Ramirez et al., 'Bop and Beyond' (2021);
      CuauSuarez/Bop2ndOrder README, 'CIFAR-10 (section 5.2)', biased version).
    Time (recorded by the committed runs): paper not measured (GPU work); quick 3m43s of
      training (1 run, Intel Xeon · 2 cores); long not measured."""

    name = "sec52_bop2ndorder"
    section = "beyond"
    # quick: the §5.2 quick scale (the schedules are relative to the run's length)
    scales = {"paper": {}, "quick": {**QUICK_MODEL, "epochs": 8, "train_subset": 20000},
              "long": {**LONG, "epochs": 32, "train_subset": 20000}, "tiny": TINY}
    epochs: int = Field(500)
    batch_size: int = Field(50)
    optimizer: Optimizer = ComponentField(Bop2ndOrder)


@component
class Sec52Bop2ndOrderUnbiased(Sec52Bop2ndOrder):
    """Bop2ndOrder (unbiased) on BinaryNet, CIFAR-10: their bop2ndOrder_unbiased_CIFAR
    preset, the numbers of bop2ndOrder_CIFAR with the unbiased class. Reported: 91.4 %
    test accuracy (their README).

    Command: ``bnn run sec52_bop2ndorder_unbiased``, or with its group ``make beyond``;
      reduced scale: ``scale=quick`` or ``scale=long``.
    Reported: 91.4 % test accuracy (Suarez-Ramirez et al., 'Bop and Beyond' (2021);
      CuauSuarez/Bop2ndOrder README, 'CIFAR-10 (section 5.2)', unbiased version).
    Time (recorded by the committed runs): paper not measured (GPU work); quick 17m30s of
      training (1 run, AMD EPYC Zen 3 · 1 core, beside another run); long not measured."""

    name = "sec52_bop2ndorder_unbiased"
    optimizer: Optimizer = ComponentField(Bop2ndOrderUnbiased)


# ImageNet --------------------------------------------------------------------------------
def imagenet_preset() -> ComponentField:
    """Their bop2ndOrder_ImageNet preset (xnor_batch.py and birealnet_batch.py alike)."""
    return ComponentField(Bop2ndOrder, gamma=linear(1e-4, 1e-9), sigma=linear(1e-5, 1e-2),
                          tau=linear(1e-8, 1e-5), real_lr=linear(2.5e-3, 5e-6))


@component
class Sec53XNORNetBop2ndOrder(Sec53XNORNet):
    """Bop2ndOrder (biased) on XNOR-Net, ImageNet: their xnornet_batch bop2ndOrder_ImageNet
    preset, 100 epochs, batch 1024, L2 5e-7 on the real first and last layers (its
    regularization_quantity, read by both layers as in the Bop authors' xnor.py).
    Reported: 46.9 % top-1 (their README; no top-5).

    Command: ``bnn run sec53_xnornet_bop2ndorder dataset.manual_dir=/data/ilsvrc2012``, or
      with its group ``make beyond-imagenet IMAGENET_DIR=...``; reduced scale:
      ``scale=quick``.
    Reported: 46.9 % top-1 (Suarez-Ramirez et al., 'Bop and Beyond' (2021);
      CuauSuarez/Bop2ndOrder README, 'ImageNet (section 5.3)' table; top-5 not published
      there).
    Time (recorded by the committed runs): paper not measured (GPU work); quick not
      measured."""

    name = "sec53_xnornet_bop2ndorder"
    section = "beyond"
    epochs: int = Field(100)
    optimizer: Optimizer = imagenet_preset()


@component
class Sec53BiRealNetBop2ndOrder(Sec53BiRealNet):
    """Bop2ndOrder (biased) on Bi-Real Net, ImageNet: their birealnet_batch
    bop2ndOrder_ImageNet preset, 150 epochs, batch 1024, no real-valued pre-training.
    Reported: 57.2 % top-1 (their README; no top-5).

    Command: ``bnn run sec53_birealnet_bop2ndorder dataset.manual_dir=/data/ilsvrc2012``, or
      with its group ``make beyond-imagenet IMAGENET_DIR=...``; reduced scale:
      ``scale=quick``.
    Reported: 57.2 % top-1 (Suarez-Ramirez et al., 'Bop and Beyond' (2021);
      CuauSuarez/Bop2ndOrder README, 'ImageNet (section 5.3)' table; top-5 not published
      there).
    Time (recorded by the committed runs): paper not measured (GPU work); quick not
      measured."""

    name = "sec53_birealnet_bop2ndorder"
    section = "beyond"
    # Their preset sets regularization_quantity 5e-7, but no layer of birealnet_batch reads
    # it: no L2 here either, as their code trains it.
    epochs: int = Field(150)
    optimizer: Optimizer = imagenet_preset()
