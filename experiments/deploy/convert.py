"""Flatbuffers of a Keras model (LCE and plain float TFLite), and what is inside them.

LCE's converter turns a ``QuantConv2D`` whose input is sign-binarised and whose kernel is
a constant of equal magnitude per output channel (Bop's +-1 kernels; ``ste_sign`` of a
latent kernel once frozen) into ``LceBconv2d``; everything else stays a TFLite builtin in
float32. The plain TFLite converter of the same network is the float baseline: every
weight as a 32-bit float, the same graph.
"""
import collections

from experiments.errors import SuiteError

BINARY_OP = "LceBconv2d"


class ConversionError(SuiteError):
    """A converter refused the model; the message names the cause."""


def _one_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    useful = [line for line in lines if "error" in line.lower()] or lines or [type(error).__name__]
    return useful[0][:300]


def lce_flatbuffer(model) -> bytes:
    """LCE's conversion of ``model`` (float32 in, float32 out, target ARM)."""
    import larq_compute_engine as lce

    try:
        return lce.convert_keras_model(model)
    except Exception as e:  # the converter raises many kinds; one line names the cause
        import tensorflow as tf

        raise ConversionError(
            f"larq-compute-engine could not convert {model.name} (TensorFlow "
            f"{tf.__version__}): {_one_line(e)}") from None


def float_flatbuffer(model) -> bytes:
    """The same network through TensorFlow's own TFLite converter (float32 weights)."""
    import tensorflow as tf

    try:
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()
    except Exception as e:
        raise ConversionError(f"the TFLite converter could not convert {model.name}: "
                              f"{_one_line(e)}") from None


def _ops(flatbuffer: bytes) -> list:
    """``(op name, output tensor name, output is bit-packed)`` per operator, in order."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    graph = model.subgraphs[0]
    out = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = (code.customCode.decode() if code.customCode else
                names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?"))
        tensor = graph.tensors[op.outputs[0]]
        out.append((name, tensor.name.decode(), tensor.type == schema.TensorType.INT32))
    return out


def census(flatbuffer: bytes, candidates: list, floats: dict) -> dict:
    """How many of each op the file holds, which layers became ``LceBconv2d`` and which
    stayed float and why.

    ``candidates`` are the layers LCE may binarise (binarised input, binary kernel), in
    the model's order; ``floats`` the others, each with the reason it cannot be. The
    converter fuses names across ops, so binary convolutions are matched to candidates
    by order (both are the graph's topological order); a count that differs is reported
    as such rather than guessed."""
    ops = _ops(flatbuffer)
    bconvs = [bitpacked for op, _, bitpacked in ops if op == BINARY_OP]
    result = {"ops": dict(sorted(collections.Counter(op for op, _, _ in ops).items())),
              "float_layers": dict(floats)}
    if len(bconvs) == len(candidates):
        result["binary_layers"] = list(candidates)
        result["binary_output_layers"] = [n for n, packed in zip(candidates, bconvs) if packed]
    else:
        result["binary_layers"] = f"{len(bconvs)} {BINARY_OP} for {len(candidates)} candidates"
        result["binary_output_layers"] = sum(bconvs)
    return result
