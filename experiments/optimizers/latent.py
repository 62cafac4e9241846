"""Latent-weight baselines (Algorithm 1 of the paper): an ordinary optimizer on real
latent weights binarised in the forward pass by ``ste_sign`` (or the model's own
quantizer per layer), optionally clipped to [-1, 1], trained by Adam, SGD or momentum,
with optional Xavier learning-rate scaling (Courbariaux et al. 2016, the §5.2 baseline).
"""
import math

import larq as lq
import tensorflow as tf
from zookeeper import ComponentField, Field, component

from experiments.errors import ConfigError
from experiments.optimizers.base import MODEL_DEFAULT, Optimizer, binary_kernels, check_range
from experiments.optimizers.schedules import Constant, Schedule, scaled

legacy = tf.keras.optimizers.legacy


def xavier_lr_multiplier(shape) -> float:
    """Per-layer learning-rate multiplier ``1 / sqrt(1.5 / (fan_in + fan_out))``.

    As in Courbariaux et al.'s BinaryNet code (``W_LR_scale``): for a dense kernel
    ``(n_in, n_out)`` the fans are ``n_in`` and ``n_out``; for a convolution kernel
    ``(kh, kw, c_in, c_out)`` they are ``kh*kw*c_in`` and ``kh*kw*c_out`` (Glorot's
    convention). Larger layers get larger steps, matching their smaller init scale.
    """
    shape = [int(d) for d in shape]
    if len(shape) < 2:
        raise ValueError(f"Xavier scaling needs a kernel of rank >= 2, got shape {shape}")
    receptive_field = math.prod(shape[:-2])
    fan_in, fan_out = shape[-2] * receptive_field, shape[-1] * receptive_field
    return 1.0 / math.sqrt(1.5 / (fan_in + fan_out))


@component
class LatentWeights(Optimizer):
    """Algorithm 1: an ordinary optimizer on real latent weights behind ``ste_sign``.

    ``clip`` bounds the latent weights to [-clip, clip] (the paper: clipping caps
    inertia); ``clip=0`` disables it. ``xavier_scaling`` multiplies each binary layer's
    learning rate by ``xavier_lr_multiplier``; ``binary_lr_multiplier`` multiplies the
    learning rate of all binary kernels (Theorem 1 scales it together with the initial
    latent weights); real-valued variables keep ``lr``.
    ``ste`` is the larq quantizer used in the forward pass (``model_default``: each
    model's own, as larq-zoo defines it; needs ``clip=0``). For ``ste_sign``,
    ``ste_clip_value`` is where its straight-through gradient is cut to zero (larq's
    default 1.0: |w~| > 1 gets no gradient); 0 passes the gradient everywhere, the
    magnitude-independent pseudo-gradient Theorem 1 assumes.
    """

    abstract = True  # a base: LatentAdam, LatentSGD, LatentMomentum are the choices

    lr: Schedule = ComponentField(Constant, value=1e-3)
    clip: float = Field(1.0)
    xavier_scaling: bool = Field(False)
    binary_lr_multiplier: float = Field(1.0)
    ste: str = Field("ste_sign")
    ste_clip_value: float = Field(1.0)

    def make(self, learning_rate):
        """The underlying Keras optimizer for one learning rate (schedule)."""
        raise NotImplementedError

    def represent(self, layer):
        if self.ste == MODEL_DEFAULT:  # the layer's own latent quantizer (larq-zoo's)
            return layer.own()
        if self.ste == "ste_sign":
            quantizer = lq.quantizers.SteSign(clip_value=float(self.ste_clip_value) or None)
        else:
            quantizer = lq.quantizers.get(self.ste)
        constraint = lq.constraints.WeightClip(float(self.clip)) if self.clip > 0 else None
        return {"kernel_quantizer": quantizer, "kernel_constraint": constraint}

    def check(self) -> None:
        check_range("optimizer.lr", self.lr, 0.0, math.inf, low_open=True)
        if self.clip < 0:
            raise ConfigError(f"optimizer.clip must be >= 0 (0 = no clipping), got {self.clip}")
        if self.binary_lr_multiplier <= 0:
            raise ConfigError(
                f"optimizer.binary_lr_multiplier must be > 0, got {self.binary_lr_multiplier}")
        if self.ste_clip_value < 0:
            raise ConfigError(
                f"optimizer.ste_clip_value must be >= 0 (0 = never cut), got {self.ste_clip_value}")
        if self.ste == MODEL_DEFAULT:
            if self.clip > 0:
                raise ConfigError(
                    "optimizer.ste='model_default' brings the model's own weight constraint; "
                    "set optimizer.clip=0.0")
            return
        try:
            lq.quantizers.get(self.ste)
        except ValueError as e:
            raise ConfigError(
                f"optimizer.ste={self.ste!r} is not a larq quantizer (e.g. ste_sign, "
                f"approx_sign, swish_sign), nor 'model_default' (the model's own): {e}"
            ) from None

    def build(self, model, steps_per_epoch, epochs):
        lr = self.lr.build(steps_per_epoch, epochs)
        schedules = {"lr": lr}
        if not self.xavier_scaling and self.binary_lr_multiplier == 1:
            return self.make(lr), schedules
        # One optimizer per binary kernel, each with its own scaled learning rate: the
        # update of Adam is invariant to gradient scale, so the rate itself must scale.
        pairs = []
        for kernel in binary_kernels(model):
            factor = float(self.binary_lr_multiplier)
            if self.xavier_scaling:
                factor *= xavier_lr_multiplier(kernel.shape)
            name = kernel.name
            pairs.append((lambda v, name=name: v.name == name, self.make(scaled(lr, factor))))
        return lq.optimizers.CaseOptimizer(*pairs, default_optimizer=self.make(lr)), schedules


@component
class LatentAdam(LatentWeights):
    """Adam on latent weights (default betas), the §5.2 baseline with Xavier scaling."""

    def make(self, learning_rate):
        return legacy.Adam(learning_rate)


@component
class LatentSGD(LatentWeights):
    """Plain SGD on latent weights (§3: learning rate vs initial scale)."""

    def make(self, learning_rate):
        return legacy.SGD(learning_rate)


@component
class LatentMomentum(LatentWeights):
    """SGD with momentum on latent weights."""

    momentum: float = Field(0.9)

    def check(self) -> None:
        super().check()
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"optimizer.momentum must be in [0, 1), got {self.momentum}")

    def make(self, learning_rate):
        return legacy.SGD(learning_rate, momentum=float(self.momentum))
