"""Is the deployed network the trained one? The test split through both, side by side.

Per test image: the trained Keras model's softmax, the deploy form's (Keras), and the LCE
interpreter's on the converted deploy form. Equal means: the same top-1 class on every
image, and outputs within LCE's own end-to-end tolerance (its tests compare interpreter
and Keras with rtol = atol = 1e-3). Accuracy is counted for both, so a disagreement that
remains shows what it costs.
"""
import time

import numpy as np

TOLERANCE = 1e-3  # LCE's end-to-end tests: rtol = atol = 1e-3
LATENCY_LABEL = "x86, LCE reference kernels: not representative of ARM devices"


def compare(trained, form, flatbuffer: bytes, dataset) -> dict:
    """Agreement of ``trained`` (Keras), ``form`` (Keras) and the LCE interpreter on every
    ``(images, labels)`` batch of ``dataset``."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    interpreter = Interpreter(flatbuffer, num_threads=1)
    n = agree = within = correct_keras = correct_lce = 0
    max_diff = form_diff = 0.0
    for images, labels in dataset:
        x, y = images.numpy(), labels.numpy().reshape(-1)
        keras = trained(x, training=False).numpy()
        rewritten = form(x, training=False).numpy()
        lce = np.asarray(interpreter.predict(x)).reshape(keras.shape)
        n += len(y)
        agree += int(np.sum(keras.argmax(1) == lce.argmax(1)))
        within += int(np.sum(np.all(np.isclose(lce, keras, rtol=TOLERANCE, atol=TOLERANCE), 1)))
        correct_keras += int(np.sum(keras.argmax(1) == y))
        correct_lce += int(np.sum(lce.argmax(1) == y))
        max_diff = max(max_diff, float(np.abs(lce - keras).max()))
        form_diff = max(form_diff, float(np.abs(rewritten - keras).max()))
    return {"images": n, "top1_agreement": agree / n, "within_tolerance": within / n,
            "tolerance": TOLERANCE, "max_abs_diff": max_diff,
            "deploy_form_max_abs_diff": form_diff, "keras_accuracy": correct_keras / n,
            "lce_accuracy": correct_lce / n}


def _median_ms(predict, images, repeats: int) -> float:
    predict(images[:1])  # first call allocates
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        predict(images[i % len(images)][None])
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def latency(lce_flatbuffer: bytes, float_flatbuffer: bytes, images, repeats: int = 50) -> dict:
    """Median single-image latency (one thread) of both flatbuffers on this machine, with
    the label every use of these numbers must carry."""
    import tensorflow as tf
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    lce = Interpreter(lce_flatbuffer, num_threads=1)
    plain = tf.lite.Interpreter(model_content=float_flatbuffer, num_threads=1)
    plain.allocate_tensors()
    (inp,), (out,) = plain.get_input_details(), plain.get_output_details()

    def run_float(x):
        if tuple(inp["shape"]) != x.shape:
            plain.resize_tensor_input(inp["index"], x.shape)
            plain.allocate_tensors()
        plain.set_tensor(inp["index"], x)
        plain.invoke()
        return plain.get_tensor(out["index"])

    return {"label": LATENCY_LABEL, "lce_ms": _median_ms(lce.predict, images, repeats),
            "float_tflite_ms": _median_ms(run_float, images, repeats), "threads": 1,
            "repeats": repeats}
