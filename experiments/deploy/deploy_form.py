"""The deploy form of a trained model: what LCE needs to make every binary layer binary.

LCE has a binary convolution (``LceBconv2d``) and no binary dense op, so a ``QuantDense``
converts to a float ``FULLY_CONNECTED`` whose kernel is stored as 32-bit floats, the bulk
of BinaryNet's file. LCE's guide rewrites such a layer as a 1x1 binary convolution
between reshapes: ``(batch, d) -> (batch, 1, 1, d) -> QuantConv2D(units, 1) -> (batch,
units)``. On a 1x1 input with a 1x1 kernel the convolution's sum is the dense layer's
sum term for term, so the rewrite computes the same function with the same weights (the
kernel only reshaped to ``(1, 1, d, units)``); :class:`DenseAsConv` is that rewrite,
one layer, so it drops into any functional graph (residual ones too).

Padding stays as trained. ``pad_values=1`` (LCE's recommendation: the border then holds
+1, a legal binary value, and the convolution can write binary output) computes another
function than the zero padding the suite's models were trained with: at every border
position it adds the sum of the kernel taps that fall on the padding. A deploy form
could subtract that constant again, but only as a float add after the convolution, so the
output would be float either way; LCE converts the trained zero padding as it is (with
float output from those convolutions), so it is kept, and its cost is visible in the op
census (``binary_output_layers``).
"""
import larq as lq
import tensorflow as tf


class DenseAsConv(tf.keras.layers.Layer):
    """A ``QuantDense`` as Reshape -> 1x1 ``QuantConv2D`` -> Reshape (same quantizers)."""

    def __init__(self, units, input_quantizer=None, kernel_quantizer=None, use_bias=True,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.conv = lq.layers.QuantConv2D(
            units, 1, input_quantizer=input_quantizer, kernel_quantizer=kernel_quantizer,
            use_bias=use_bias, name="conv1x1", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.conv.build((None, 1, 1, int(input_shape[-1])))
        super().build(input_shape)

    def call(self, inputs):
        x = tf.reshape(inputs, (-1, 1, 1, inputs.shape[-1]))
        return tf.reshape(self.conv(x), (-1, self.units))

    def get_config(self):
        config = super().get_config()
        conv = self.conv.get_config()
        config.update(units=self.units, input_quantizer=conv["input_quantizer"],
                      kernel_quantizer=conv["kernel_quantizer"], use_bias=conv["use_bias"])
        return config


def _clone(layer):
    if isinstance(layer, lq.layers.QuantDense):
        return DenseAsConv(layer.units, input_quantizer=layer.input_quantizer,
                           kernel_quantizer=layer.kernel_quantizer, use_bias=layer.use_bias,
                           name=layer.name)
    return layer.__class__.from_config(layer.get_config())


def deploy_form(model: tf.keras.Model) -> tf.keras.Model:
    """``model`` with every ``QuantDense`` as a :class:`DenseAsConv`, holding the trained
    weights (dense kernels reshaped to 1x1 convolution kernels)."""
    form = tf.keras.models.clone_model(model, clone_function=_clone)
    for layer in model.layers:
        target = form.get_layer(layer.name)
        weights = layer.get_weights()
        if isinstance(layer, lq.layers.QuantDense):
            kernel, *rest = weights
            weights = [kernel.reshape((1, 1) + kernel.shape), *rest]
        target.set_weights(weights)
    return form


def dense_layers(model: tf.keras.Model) -> list:
    """Names of the layers the deploy form rewrites."""
    return [layer.name for layer in model.layers if isinstance(layer, lq.layers.QuantDense)]
