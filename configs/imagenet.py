"""ImageNet (ILSVRC-2012) experiments of the paper: §5.3, and larq-zoo's latent-weight
baselines for the same three networks.

Each class is one §5.3 item and overrides only what differs from its base. Sources:

* Bop, camera-ready: the authors' ``bop`` hyperparameter sets in
  plumerai/rethinking-bnn-optimization, commit 2823525, ``bnn_optimization/models/
  binary_alexnet.py``, ``xnor.py``, ``birealnet.py`` (the README's §5.3 commands
  ``bnno train <model> --dataset imagenet2012 --hparams-set bop``; results table there).
  Shared: batch 1024, tau 1e-8, gamma 1e-4 -> 1e-6 and Adam 2.5e-3 -> 5e-6 for the
  real-valued variables, both ``PolynomialDecay(power=1)`` over
  ``epochs * 1281167 // batch_size`` steps (``Linear`` here: the same count for the full
  train split).
* Bop, arXiv v1 (Bi-Real Net only): the paper's v1 §5.3 text (no config of it survives
  in the authors' repository).
* Latent-weight Adam baselines: larq-zoo 2.4.0's training recipes,
  ``larq_zoo/training/basic_experiments.py`` (``TrainBinaryAlexNet``, ``TrainXNORNet``,
  ``TrainBiRealNet``), with larq-zoo's own latent quantizer and constraint per model
  (``ste="model_default"``, ``clip=0``: the model's ``weight_clip``). Their reported
  numbers are the docstrings of ``larq_zoo/literature/*.py``. The networks are the
  authors' (``models/``), so Bop and its baseline train the same network; where that
  differs from larq-zoo's, the model module says how.

Scales:

* ``paper`` - the values above at 224x224 on the full train split, validated on the
  ``validation`` split (GPU work; the authors' batch of 1024 needs several GPUs).
* ``quick`` - a REDUCED CPU scale, not a paper-scale result: 64x64 inputs (eval centre
  crop 64/73, the paper's 224/256 kept, see ``crop_padding``), quarter-width networks
  (XNOR-Net's 6x6 "valid" layer becomes 1x1: the final map is 1x1 at 64x64), the first
  20,000 training images, 5 epochs, batch 128, validated on the full 50,000-image
  validation split. Every schedule keeps its paper values and shape, compressed into
  the 5 epochs (linear decays span the run; step boundaries are scaled). Bop's gamma
  1e-4 averages over ~10,000 steps, longer than the whole quick run (~780 steps; see
  ``docs/methods.md#a-fair-comparison-at-reduced-scale``): a smoke-level reduced run, not
  a test of Bop's ImageNet accuracy.
* ``tiny`` - a smoke scale for tests: 40 images, batch 8, one epoch, 4-filter networks
  at 32x32 (Bi-Real Net) or 64x64 (Binary AlexNet and XNOR-Net, the latter with
  ``fc_kernel_size`` 1, do not build below 57x57).
"""
from zookeeper import ComponentField, Field, component
from zookeeper.core.partial_component import PartialComponent

from configs.cifar10 import bop
from experiments.datasets import Dataset
from experiments.datasets.imagenet import ImageNet, at_size, crop_padding_for
from experiments.engine.experiment import Experiment
from experiments.optimizers import Optimizer
from experiments.optimizers.bop import Bop
from experiments.optimizers.latent import LatentAdam
from experiments.optimizers.schedules import Linear, PiecewiseConstant, Staircase
from models import Model
from models.binary_alexnet import BinaryAlexNet
from models.birealnet import BiRealNet
from models.xnornet import XNORNet

IMAGENET_TRAIN_IMAGES = 1281167  # the authors' and larq-zoo's step counts use it
QUICK_EPOCHS = 5


crop_padding = crop_padding_for  # the paper's crop fraction at any image size (the dataset's)


def data_scale(image_size: int, **rest) -> dict:
    return {**at_size(image_size), **rest}


QUICK = data_scale(64, train_subset=20000, epochs=QUICK_EPOCHS, batch_size=128)
TINY_64 = data_scale(64, train_subset=40, epochs=1, batch_size=8, flip_log_interval=1)
TINY_32 = data_scale(32, train_subset=40, epochs=1, batch_size=8, flip_log_interval=1)


def linear(start: float, end: float) -> PartialComponent:
    """Linear decay from ``start`` to ``end`` over the whole run (``PolynomialDecay``,
    power 1, in the authors' and larq-zoo's code)."""
    return PartialComponent(Linear, value=start, end=end)


def camera_ready_bop() -> ComponentField:
    """The shared camera-ready Bop settings (authors' ``bop`` sets, all three models)."""
    return bop(gamma=linear(1e-4, 1e-6), tau=1e-8, real_lr=linear(2.5e-3, 5e-6))


def latent_adam(lr: PartialComponent) -> ComponentField:
    """Adam on latent weights with the model's own (larq-zoo's) quantizer and constraint."""
    return ComponentField(LatentAdam, lr=lr, clip=0.0, ste="model_default")


@component
class ImageNetExperiment(Experiment):
    """Train a model on ImageNet (§5.3): the camera-ready shared settings by default
    (batch 1024; the experiments below set model, epochs and schedules)."""

    name = "imagenet"
    dataset: Dataset = ComponentField(ImageNet)
    model: Model = ComponentField(BiRealNet)
    optimizer: Optimizer = ComponentField(Bop)
    batch_size: int = Field(1024)


# Bop, camera-ready ------------------------------------------------------------------------
@component
class Sec53(ImageNetExperiment):
    """§5.3 camera-ready Bop: batch 1024, tau 1e-8, gamma 1e-4 -> 1e-6 linear, Adam
    2.5e-3 -> 5e-6 linear for the real-valued variables (authors' ``bop`` sets)."""

    section = "5.3"
    batch_size: int = Field(1024)
    optimizer: Optimizer = camera_ready_bop()


@component
class Sec53BinaryAlexNet(Sec53):
    """§5.3 Binary AlexNet with Bop, 150 epochs. Reported: 41.1 % top-1 (authors' README;
    ``bnn_optimization/models/binary_alexnet.py``, ``bop``: epochs 150, batch 1024).

    Command: ``bnn run sec53_binary_alexnet dataset.manual_dir=/data/ilsvrc2012``, or with
      its group ``make imagenet IMAGENET_DIR=...``; reduced scale: ``scale=quick``.
    Reported: 41.1 % top-1 (authors' README (camera-ready results table); hyperparameters:
      bnn_optimization/models/binary_alexnet.py, `bop` (commit 2823525); top-5 not published
      there).
    Time (recorded by the committed runs): paper not measured (GPU work); quick not
      measured."""

    name = "sec53_binary_alexnet"
    scales = {
        "paper": {},
        "quick": {**QUICK, "model.conv_filters": (16, 48, 96, 96, 64), "model.dense_units": 1024},
        "tiny": {**TINY_64, "model.conv_filters": (4, 4, 4, 4, 4), "model.dense_units": 8},
    }
    epochs: int = Field(150)
    model: Model = ComponentField(BinaryAlexNet)


@component
class Sec53XNORNet(Sec53):
    """§5.3 XNOR-Net with Bop, 100 epochs; L2 5e-7 on the real first and last layers
    (``model.l2``). Reported: 45.9 % top-1 (authors' README; ``bnn_optimization/models/
    xnor.py``, ``bop``: epochs 100, batch 1024, regularization_quantity 5e-7).

    Command: ``bnn run sec53_xnornet dataset.manual_dir=/data/ilsvrc2012``, or with its
      group ``make imagenet IMAGENET_DIR=...``; reduced scale: ``scale=quick``.
    Reported: 45.9 % top-1 (authors' README (camera-ready results table); hyperparameters:
      bnn_optimization/models/xnor.py, `bop` (commit 2823525); top-5 not published there).
    Time (recorded by the committed runs): paper not measured (GPU work); quick not
      measured."""

    name = "sec53_xnornet"
    # fc_kernel_size 1: at 64x64 the map before XNOR-Net's 6x6 "valid" layer is 1x1.
    scales = {
        "paper": {},
        "quick": {**QUICK, "model.conv_filters": (24, 64, 96, 96, 64), "model.dense_units": 1024,
                  "model.fc_kernel_size": 1},
        "tiny": {**TINY_64, "model.conv_filters": (4, 4, 4, 4, 4), "model.dense_units": 8,
                 "model.fc_kernel_size": 1},
    }
    epochs: int = Field(100)
    model: Model = ComponentField(XNORNet, l2=5e-7)


@component
class Sec53BiRealNet(Sec53):
    """§5.3 Bi-Real Net with Bop, 300 epochs, no real-valued pre-training. Reported:
    56.6 % top-1 (authors' README; ``bnn_optimization/models/birealnet.py``, ``bop``:
    epochs 300, batch 1024).

    Command: ``bnn run sec53_birealnet dataset.manual_dir=/data/ilsvrc2012``, or with its
      group ``make imagenet IMAGENET_DIR=...``; reduced scale: ``scale=quick``.
    Reported: 56.6 % top-1 (authors' README (camera-ready results table); hyperparameters:
      bnn_optimization/models/birealnet.py, `bop` (commit 2823525); top-5 not published
      there).
    Time (recorded by the committed runs): paper not measured (GPU work); quick not
      measured."""

    name = "sec53_birealnet"
    scales = {
        "paper": {},
        "quick": {**QUICK, "model.filters": 16},
        "tiny": {**TINY_32, "model.filters": 4},
    }
    epochs: int = Field(300)
    model: Model = ComponentField(BiRealNet, filters=64)


# Bop, arXiv v1 ----------------------------------------------------------------------------
@component
class Sec53BiRealNetArxivV1(Sec53BiRealNet):
    """§5.3 of arXiv v1: Bi-Real Net with Bop, 100 epochs, batch 256, tau 1e-7, gamma
    5e-4 -> 2.5e-6, Adam 2.5e-3 -> 2.5e-6 (linear), no pre-training. Reported: 54.2 %
    top-1 / 77.2 % top-5 (paper v1, §5.3; v1 compares it with the Bi-Real Net paper's
    56.4 %, which used latent weights and real-valued pre-training).

    Command: ``bnn run sec53_birealnet_arxiv_v1 dataset.manual_dir=/data/ilsvrc2012``, or
      with its group ``make imagenet IMAGENET_DIR=...``; reduced scale: ``scale=quick``.
    Reported: 54.2 % top-1, 77.2 % top-5 (paper arXiv v1, §5.3 (no pre-training); compared
      there with 56.4 % top-1 of the Bi-Real Net paper (latent weights, real-valued
      pre-training)).
    Time (recorded by the committed runs): paper not measured (GPU work); quick not
      measured."""

    name = "sec53_birealnet_arxiv_v1"
    epochs: int = Field(100)
    batch_size: int = Field(256)
    optimizer: Optimizer = bop(gamma=linear(5e-4, 2.5e-6), tau=1e-7,
                               real_lr=linear(2.5e-3, 2.5e-6))


# Latent-weight Adam baselines (larq-zoo 2.4.0's recipes) ----------------------------------
@component
class Sec53BinaryAlexNetLatentAdam(Sec53BinaryAlexNet):
    """Latent-weight baseline for Binary AlexNet: larq-zoo's ``TrainBinaryAlexNet``
    (``larq_zoo/training/basic_experiments.py``): 150 epochs, batch 512, Adam with lr
    ``1e-2 * 0.5 ** (epoch // 10)``; latent weights under ``ste_sign``, ``weight_clip``
    (larq-zoo's ``BinaryAlexNetFactory``). Reported by larq-zoo: 36.30 % top-1 / 61.53 %
    top-5 (``larq_zoo/literature/binary_alex_net.py``, ``BinaryAlexNet`` docstring).
    The network is the authors' (batch norm with scale, dense layers as ``QuantDense``),
    not larq-zoo's, so that Bop and its baseline train the same network.

    Command: ``bnn run sec53_binary_alexnet_latent_adam dataset.manual_dir=...``, or with
      its group ``make imagenet IMAGENET_DIR=...``; reduced scale: ``scale=quick``.
    Reported: 36.3 % top-1, 61.53 % top-5 (larq-zoo 2.4.0,
      larq_zoo/literature/binary_alex_net.py, BinaryAlexNet docstring (Adam on latent
      weights, not Bop; larq-zoo's network: batch norm without scale)).
    Time (recorded by the committed runs): paper not measured (GPU work); quick not
      measured."""

    name = "sec53_binary_alexnet_latent_adam"
    # Staircase counts whole epochs: x0.5 every epoch at quick scale (4 halvings in 5
    # epochs; the paper run has 14 in 150).
    scales = {**Sec53BinaryAlexNet.scales,
              "quick": {**Sec53BinaryAlexNet.scales["quick"], "optimizer.lr.every_epochs": 1}}
    batch_size: int = Field(512)
    optimizer: Optimizer = latent_adam(
        PartialComponent(Staircase, value=1e-2, every_epochs=10, factor=0.5))


XNOR_LR_EPOCHS = (19, 30, 44, 53, 66, 76, 86)
XNOR_LR_MULTIPLIERS = (1.0, 0.5, 0.1, 0.05, 0.01, 0.005, 0.001, 0.0001)


@component
class Sec53XNORNetLatentAdam(Sec53XNORNet):
    """Latent-weight baseline for XNOR-Net: larq-zoo's ``TrainXNORNet``
    (``larq_zoo/training/basic_experiments.py``): 100 epochs, batch 1200, Adam with
    lr 1e-3 x (1, .5, .1, .05, .01, .005, .001, .0001) from epochs 0, 19, 30, 44, 53, 66,
    76, 86; latent weights under ``xnor_weight_scale``, ``weight_clip`` (larq-zoo's
    ``XNORNetFactory``). Reported by larq-zoo: 44.96 % top-1 / 69.18 % top-5
    (``larq_zoo/literature/xnornet.py``, ``XNORNet`` docstring).

    Command: ``bnn run sec53_xnornet_latent_adam dataset.manual_dir=/data/ilsvrc2012``, or
      with its group ``make imagenet IMAGENET_DIR=...``; reduced scale: ``scale=quick``.
    Reported: 44.96 % top-1, 69.18 % top-5 (larq-zoo 2.4.0, larq_zoo/literature/xnornet.py,
      XNORNet docstring (Adam on latent weights, not Bop; larq-zoo's network: batch norm
      without scale, L2 5e-7 on every kernel)).
    Time (recorded by the committed runs): paper not measured (GPU work); quick not
      measured."""

    name = "sec53_xnornet_latent_adam"
    # Differs from larq-zoo: its L2 5e-7 also sits on the binary kernels and its batch
    # norms have no scale; here the authors' XNOR-Net (L2 on the real layers only) is kept.
    scales = {**Sec53XNORNet.scales,
              "quick": {**Sec53XNORNet.scales["quick"],
                        "optimizer.lr.boundary_epochs":
                            tuple(e * QUICK_EPOCHS / 100 for e in XNOR_LR_EPOCHS)}}
    batch_size: int = Field(1200)
    optimizer: Optimizer = latent_adam(PartialComponent(
        PiecewiseConstant, value=1e-3, boundary_epochs=XNOR_LR_EPOCHS,
        multipliers=XNOR_LR_MULTIPLIERS))


# larq-zoo decays over a fixed 750,684 steps to 0; a linear decay to 5e-3 / 750,684 over
# int(300 * 1281167 / 512) = 750,683 steps is the same line at every step (two points of
# one straight line) and keeps the lr > 0, as the suite's validation requires. (larq-zoo's
# fit runs ceil(1281167 / 512) * 300 = 750,900 steps: its last 216 have lr 0.)
BIREAL_LR = 5e-3
BIREAL_ZOO_DECAY_STEPS = 750684


@component
class Sec53BiRealNetLatentAdam(Sec53BiRealNet):
    """Latent-weight baseline for Bi-Real Net: larq-zoo's ``TrainBiRealNet``
    (``larq_zoo/training/basic_experiments.py``): 300 epochs, batch 512, Adam with lr
    5e-3 decayed linearly to 0 (``PolynomialDecay(5e-3, 750684, 0, power=1)``); latent
    weights under ``magnitude_aware_sign``, ``weight_clip`` (larq-zoo's
    ``BiRealNetFactory``, the same network as the authors'). Reported by larq-zoo:
    57.47 % top-1 / 79.84 % top-5 (``larq_zoo/literature/birealnet.py``, ``BiRealNet``
    docstring).

    Command: ``bnn run sec53_birealnet_latent_adam dataset.manual_dir=/data/ilsvrc2012``, or
      with its group ``make imagenet IMAGENET_DIR=...``; reduced scale: ``scale=quick``.
    Reported: 57.47 % top-1, 79.84 % top-5 (larq-zoo 2.4.0,
      larq_zoo/literature/birealnet.py, BiRealNet docstring (Adam on latent weights, not
      Bop)).
    Time (recorded by the committed runs): paper not measured (GPU work); quick not
      measured."""

    name = "sec53_birealnet_latent_adam"
    batch_size: int = Field(512)
    optimizer: Optimizer = latent_adam(linear(BIREAL_LR, BIREAL_LR / BIREAL_ZOO_DECAY_STEPS))
