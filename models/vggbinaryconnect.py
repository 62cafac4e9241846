"""VGGBinaryConnect: BayesBiNN's CIFAR-10 network, binary weights and real-valued
activations.

Meng, Bachmann and Khan, "Training Binary Neural Networks using the Bayesian Learning
Rule" (ICML 2020), as their code builds it (class ``VGGBinaryConnect`` in ``models.py``
of their package ``models``, team-approx-bayes/BayesBiNN, read at 76effb1): BinaryNet's
topology - six 3x3 convolutions (128, 128, 256, 256, 512, 512 filters, every one padded,
the first included) and three dense layers (1024, 1024, 10), no biases, max pooling after
the second, fourth and sixth convolution and *before* their batch norm - but:

* every activation is a ReLU, real-valued (BinaryNet binarises them with ``ste_sign``);
* batch norm has neither scale nor offset (their ``bn-affine`` 0), so the network has no
  real-valued parameter at all: every weight is one of the nine binary kernels;
* batch norm keeps PyTorch's settings: epsilon 1e-5; after the convolutions momentum 0.2,
  after the dense layers PyTorch's default 0.1 (a PyTorch momentum ``m`` is Keras's
  ``1 - m``, the weight of the old moving statistics);
* the last batch norm's output goes to the softmax (their ``CrossEntropyLoss`` takes the
  logits; softmax plus categorical cross-entropy is the same loss).

``filters`` and ``dense_units`` scale the widths as BinaryNet's do (``configs/cifar10.py``'s
reduced scales name them), so the same scale overrides apply to both networks.
"""
import larq as lq
import tensorflow as tf
from zookeeper import Field, component

from experiments.errors import ConfigError
from experiments.models.base import BinaryLayers, Model, check_input


def check_fields(filters, dense_units, conv_bn_momentum, dense_bn_momentum) -> None:
    """The one check of VGGBinaryConnect's settings (the component's ``check`` and
    :func:`vggbinaryconnect` both call it): ``ConfigError`` naming the field."""
    if filters < 1 or dense_units < 1:
        raise ConfigError(f"model.filters and model.dense_units must be >= 1, got {filters} "
                          f"and {dense_units}")
    for name, value in (("conv_bn_momentum", conv_bn_momentum),
                        ("dense_bn_momentum", dense_bn_momentum)):
        if not 0 <= value < 1:
            raise ConfigError(f"model.{name} must be in [0, 1) (Keras's momentum: the old "
                              f"statistics' weight), got {value}")


def vggbinaryconnect(*, represent, filters: int = 128, dense_units: int = 1024,
                     conv_bn_momentum: float = 0.8, dense_bn_momentum: float = 0.9,
                     input_shape=(32, 32, 3), num_classes: int = 10) -> tf.keras.Model:
    """Build VGGBinaryConnect; the momenta are Keras's (PyTorch's 0.2 and 0.1)."""
    check_fields(filters, dense_units, conv_bn_momentum, dense_bn_momentum)
    check_input("VGGBinaryConnect", input_shape, num_classes)
    # the model's own representation (a latent-weight optimizer's): ste_sign, clipped
    kernel = BinaryLayers("vggbinaryconnect", represent, "ste_sign", "weight_clip")

    def bn(name, momentum):
        return tf.keras.layers.BatchNormalization(momentum=momentum, epsilon=1e-5,
                                                  center=False, scale=False, name=name)

    def conv(width, name):
        return lq.layers.QuantConv2D(width, 3, padding="same", use_bias=False, name=name,
                                     **kernel(name))

    def dense(units, name):
        return lq.layers.QuantDense(units, use_bias=False, name=name, **kernel(name))

    def relu(name):
        return tf.keras.layers.ReLU(name=name)

    x = inputs = tf.keras.Input(shape=input_shape)
    for i, width in enumerate((filters, filters, 2 * filters, 2 * filters,
                               4 * filters, 4 * filters), start=1):
        x = conv(width, f"conv{i}")(x)
        if i % 2 == 0:
            x = tf.keras.layers.MaxPool2D(2, 2, name=f"pool{i}")(x)
        x = relu(f"relu{i}")(bn(f"bn{i}", conv_bn_momentum)(x))
    x = tf.keras.layers.Flatten(name="flatten")(x)
    x = relu("relu7")(bn("bn7", dense_bn_momentum)(dense(dense_units, "dense1")(x)))
    x = relu("relu8")(bn("bn8", dense_bn_momentum)(dense(dense_units, "dense2")(x)))
    x = bn("bn9", dense_bn_momentum)(dense(num_classes, "dense3")(x))
    # float32 under a mixed policy too: the loss and metrics read these probabilities
    outputs = tf.keras.layers.Activation("softmax", name="softmax", dtype="float32")(x)
    return tf.keras.Model(inputs, outputs, name="vggbinaryconnect")


@component
class VGGBinaryConnect(Model):
    """Config component for :func:`vggbinaryconnect` (defaults: their full width)."""

    filters: int = Field(128)
    dense_units: int = Field(1024)
    conv_bn_momentum: float = Field(0.8)  # PyTorch 0.2 (their --bnmomentum)
    dense_bn_momentum: float = Field(0.9)  # PyTorch's default 0.1

    def check(self) -> None:
        check_fields(self.filters, self.dense_units, self.conv_bn_momentum,
                     self.dense_bn_momentum)

    def build(self, *, input_shape, num_classes, represent):
        return vggbinaryconnect(
            represent=represent, filters=self.filters, dense_units=self.dense_units,
            conv_bn_momentum=float(self.conv_bn_momentum),
            dense_bn_momentum=float(self.dense_bn_momentum), input_shape=input_shape,
            num_classes=num_classes)
