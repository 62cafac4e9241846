"""BayesBiNN (Meng, Bachmann and Khan, "Training Binary Neural Networks using the Bayesian
Learning Rule", ICML 2020), in one file.

A mean-field Bernoulli distribution over every binary weight, with natural parameter
``lambda`` and mean ``mu = tanh(lambda)``. Each training step uses a relaxed sample::

    u ~ U(0, 1);  delta = log(u / (1 - u)) / 2
    w = tanh((lambda + delta) / tau)                      # +-1 for their tau = 1e-10

for the forward and backward pass, and with ``g = dL/dw`` updates::

    s  = (1 - w*w + 1e-10) / tau / (1 - mu*mu + 1e-10)
    gh = s * g * N                                        # N: training-set size x scale
    M  <- beta * M + (1 - beta) * (gh + (lambda - lambda0))
    lambda <- lambda - lr * M / (1 - beta^t)
    mu <- tanh(lambda before this update)

At test time the weights are ``+1`` where ``mu > 0`` and ``-1`` where ``mu <= 0``.

Transcribed from ``optimizers/BayesBiNN.py`` of team-approx-bayes/BayesBiNN (the file's
only version, commit 76effb1; read at 67e0c6f7d19c22ebf5bfee8360fd734347f26057), with the
settings of their ``main_cifar10.py`` and ``utils/train_utils.py`` (and the
``training_log/cifar10_run*/configs`` they ship): ``lambda`` starts at +-10 with a random
sign (``lamda_std`` 0), ``tau`` 1e-10, one sample per step, momentum ``beta`` 0, prior
``lambda0`` 0 with weight 1, ``N`` = 45,000 training images x ``trainset_scale`` 10,
``lr`` 3e-4 on a ``CosineAnnealingLR(T_max=epochs, eta_min=1e-16)`` stepped at the *start*
of each epoch (:class:`~experiments.optimizers.schedules.EpochCosine` with ``offset=1``),
test-time weights from the mean (``test_samples`` 0).

Where the paper and their code differ, the code is followed, since it made their numbers:
``mu`` is updated from the *old* ``lambda`` (``self.state['mu'] = torch.tanh(lamda)``
after ``self.state['lamda']`` was rebound to the new tensor), so the scale ``s`` and the
test-time sign use ``mu`` one step late; the paper writes ``mu = tanh(lambda)``.

Where this port differs from their code, and why:

* their CIFAR-10 network (VGGBinaryConnect) has real-valued ReLU activations and no
  learnable batch-norm parameters; the suite's BinaryNet binarises activations and has
  batch-norm offsets, trained here by Adam(``real_lr``), 1e-2 by default (Bop's §5.2
  value), since BayesBiNN has no rule for them. Results here are a port;
* ``N`` is the run's own training-set size times ``trainset_scale`` (theirs: 45,000
  after a 10 % validation split);
* the noise ``u`` comes from a stateless generator keyed by (the run's seed, the kernel's
  name, the step), so a run resumed from a checkpoint draws the same samples as an
  uninterrupted one (theirs: ``torch.rand_like``);
* ``u`` is drawn in [0, 1) as ``torch.rand_like`` draws it; u = 0 gives w = -1.

The kernel holds the current *sample*; :meth:`BayesBiNN.evaluation_weights` swaps in the
mean's sign while the training loop evaluates, and puts the sample back afterwards. The
flips the loop counts are the samples' sign changes.
"""
import contextlib
import math
import zlib

import larq as lq
import tensorflow as tf
from zookeeper import ComponentField, Field, component

from experiments.errors import ConfigError
from experiments.optimizers.base import Optimizer, binary_kernels, binary_marker, check_range
from experiments.optimizers.schedules import Constant, EpochCosine, Schedule, at_step

EPSILON = 1e-10  # theirs, in both halves of the scale


def kernel_key(var) -> int:
    """A number for one kernel that does not depend on the order variables are created
    in (a restored optimizer makes its slots in another order): its name's CRC-32."""
    return zlib.crc32(var.name.encode()) & 0x7FFFFFFF


def noise_seed(seed: int, var, index):
    """The stateless seed of one kernel's draw number ``index`` (-1: lambda's signs)."""
    base = tf.constant([int(seed), kernel_key(var)], tf.int64)
    return tf.random.experimental.stateless_fold_in(base, tf.cast(index, tf.int64) + 1)


def relaxed_sample(lamda, tau, seed: int, var, index):
    """``tanh((lambda + log(u / (1 - u)) / 2) / tau)`` with ``u`` from draw ``index``."""
    u = tf.random.stateless_uniform(tf.shape(lamda), noise_seed(seed, var, index),
                                    dtype=lamda.dtype)
    return tf.tanh((tf.math.log(u / (1 - u)) / 2 + lamda) / tau)


class BayesBiNNKeras(tf.keras.optimizers.legacy.Optimizer):
    """The update above as a legacy Keras optimizer (larq's ``CaseOptimizer`` needs the
    legacy interface). Slots: ``lamda``, ``mu`` and ``momentum`` per kernel; the step
    that uses sample ``k`` is the optimizer's step ``k`` (``iterations`` before it)."""

    _HAS_AGGREGATE_GRAD = True

    def __init__(self, learning_rate, train_set_size, temperature=1e-10, beta=0.0,
                 lamda_init=10.0, seed=0, name="BayesBiNN", **kwargs):
        super().__init__(name=name, **kwargs)
        self._set_hyper("learning_rate", learning_rate)
        # Variables, not constants, so that no graph optimizer folds them into the
        # constants around them: TF's arithmetic optimizer and XLA both rewrite
        # (1 - w*w) + 1e-10 as (1 + 1e-10) - w*w, which is 1 - w*w in float32 and makes
        # the scale 0 / 0 where w and mu are +-1 (tests/test_bayesbinn.py).
        self._set_hyper("temperature", float(temperature))
        self._set_hyper("epsilon", EPSILON)
        self._set_hyper("train_set_size", float(train_set_size))
        self.train_set_size = float(train_set_size)
        self.temperature = float(temperature)
        self.beta = float(beta)
        self.lamda_init = float(lamda_init)
        self.seed = int(seed)

    def _create_slots(self, var_list):
        for var in var_list:
            def lamda0(shape, dtype, var=var):  # +-lamda_init, the sign a fair coin
                coin = tf.random.stateless_uniform(shape, noise_seed(self.seed, var, -1),
                                                   dtype=dtype) < 0.5
                return tf.where(coin, self.lamda_init, -self.lamda_init)
            self.add_slot(var, "lamda", initializer=lamda0)
            self.add_slot(var, "mu", initializer=lambda shape, dtype, var=var: tf.tanh(
                self.get_slot(var, "lamda")))
            self.add_slot(var, "momentum")

    def first_sample(self, var):
        """Set ``var`` to the sample its first step uses (draw 0)."""
        var.assign(relaxed_sample(self.get_slot(var, "lamda"), self.temperature, self.seed,
                                  var, 0))

    def mean_weights(self, var):
        """Their test-time weights: +1 where ``mu > 0``, -1 where ``mu <= 0``."""
        mu = self.get_slot(var, "mu")
        return tf.where(mu > 0, tf.ones_like(mu), -tf.ones_like(mu))

    def _resource_apply_dense(self, grad, var, apply_state=None):
        dtype = var.dtype.base_dtype
        lr = at_step(self._get_hyper("learning_rate", dtype), self.iterations, dtype)
        tau, eps, n = (self._get_hyper(k, dtype) for k in ("temperature", "epsilon",
                                                            "train_set_size"))
        beta = tf.constant(self.beta, dtype)
        lamda, mu, momentum = (self.get_slot(var, k) for k in ("lamda", "mu", "momentum"))
        w, lamda_old, mu_old = var.value(), lamda.value(), mu.value()
        scale = (1 - w * w + eps) / tau / (1 - mu_old * mu_old + eps)
        grad_hat = (scale * grad) * n
        m_t = beta * momentum + (1 - beta) * (grad_hat + lamda_old)  # prior 0, weight 1
        t = tf.cast(self.iterations + 1, dtype)  # their step count, from 1
        lamda_t = lamda_old - lr * m_t / (1 - tf.pow(beta, t))
        sample = relaxed_sample(lamda_t, tau, self.seed, var, self.iterations + 1)
        return tf.group(momentum.assign(m_t), lamda.assign(lamda_t),
                        mu.assign(tf.tanh(lamda_old)), var.assign(sample))

    def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
        raise NotImplementedError("BayesBiNN updates dense binary kernels only")

    def get_config(self):
        return {**super().get_config(),
                "learning_rate": self._serialize_hyperparameter("learning_rate"),
                "train_set_size": self.train_set_size, "temperature": self.temperature,
                "beta": self.beta, "lamda_init": self.lamda_init, "seed": self.seed}


@component
class BayesBiNN(Optimizer):
    """BayesBiNN for binary kernels, Adam for real-valued variables (a port: see above).

    ``seed`` and ``batch_size`` are the run's (inherited from the experiment): the seed
    draws lambda's signs and every sample, the batch size gives ``N``. The ladder's grid varies ``optimizer.lr.value`` (SUCCESSORS in
    ``configs/cifar10.py``).
    """

    lr: Schedule = ComponentField(EpochCosine, value=3e-4, end=1e-16, offset=1)
    temperature: float = Field(1e-10)
    beta: float = Field(0.0)
    lamda_init: float = Field(10.0)
    trainset_scale: float = Field(10.0)
    real_lr: Schedule = ComponentField(Constant, value=1e-2)
    # no defaults: the experiment's own (zookeeper gives a sub-component the parent's
    # value of a field of the same name)
    seed: int = Field()
    batch_size: int = Field()

    def represent(self, layer):
        return binary_marker(layer)  # the kernel holds the sample (+-1)

    def check(self) -> None:
        check_range("optimizer.lr", self.lr, 0.0, math.inf, low_open=True)
        check_range("optimizer.real_lr", self.real_lr, 0.0, math.inf, low_open=True)
        for name, value, ok, rule in (
                ("temperature", self.temperature, self.temperature > 0, "> 0"),
                ("beta", self.beta, 0 <= self.beta < 1, "in [0, 1)"),
                ("lamda_init", self.lamda_init, self.lamda_init >= 0, ">= 0"),
                ("trainset_scale", self.trainset_scale, self.trainset_scale > 0, "> 0")):
            if not ok:
                raise ConfigError(f"optimizer.{name} must be {rule}, got {value!r}")

    def train_set_size(self, steps_per_epoch) -> float:
        """Their ``N``: the training images (the engine passes ``steps_per_epoch`` as
        ``n_train / batch_size``) times ``trainset_scale``."""
        return round(steps_per_epoch * self.batch_size) * self.trainset_scale

    def build(self, model, steps_per_epoch, epochs):
        schedules = {"lr": self.lr.build(steps_per_epoch, epochs),
                     "real_lr": self.real_lr.build(steps_per_epoch, epochs)}
        bayes = BayesBiNNKeras(schedules["lr"], self.train_set_size(steps_per_epoch),
                               temperature=self.temperature, beta=self.beta,
                               lamda_init=self.lamda_init, seed=self.seed)
        if model is not None:  # lambda drawn and the first step's sample in the kernels
            kernels = binary_kernels(model)
            bayes._create_all_weights(kernels)
            for kernel in kernels:
                bayes.first_sample(kernel)
        optimizer = lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, bayes),
            default_optimizer=tf.keras.optimizers.legacy.Adam(schedules["real_lr"]))
        return optimizer, schedules

    @contextlib.contextmanager
    def evaluation_weights(self, model, optimizer):
        """The mean's sign in every binary kernel while the loop evaluates; the training
        sample back afterwards (so the next step, and a checkpoint, see the sample)."""
        bayes = optimizer.optimizers[0]  # build's CaseOptimizer: BayesBiNN first
        kernels = binary_kernels(model)
        samples = [kernel.read_value() for kernel in kernels]
        for kernel in kernels:
            kernel.assign(bayes.mean_weights(kernel))
        try:
            yield
        finally:
            for kernel, sample in zip(kernels, samples):
                kernel.assign(sample)
