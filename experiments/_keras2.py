"""Select Keras 2 (tf-keras) before TensorFlow is imported anywhere in the suite, and
keep TensorFlow's C++ start-up lines out of the user's way.

Every command would otherwise open with dozens of lines such as "computation placer
already registered" or, on a machine without a GPU, "failed call to cuInit: ... CUDA
error": harmless, but they read like failures. They are written by C++ code to file
descriptor 2 while TensorFlow is imported, before any logging setting applies, so the
import runs with that descriptor pointed at /dev/null. ``BNN_VERBOSE=1`` (``make ...
VERBOSE=1``) keeps all of TensorFlow's output. Python errors are unaffected: an
exception raised by the import is printed after the descriptor is restored.

TensorFlow is not imported here: whichever module first needs it imports it, quietly (an
import hook wraps that one import). So what needs no TensorFlow - reading run folders,
``experiments.analysis.collect`` - starts without it.
"""
import contextlib
import importlib.abc
import importlib.util
import os
import sys

if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    raise ImportError(
        "TensorFlow was imported before the suite could select Keras 2. larq needs "
        "TF_USE_LEGACY_KERAS=1: import `experiments` or `models` before tensorflow, "
        "or export TF_USE_LEGACY_KERAS=1."
    )
os.environ["TF_USE_LEGACY_KERAS"] = "1"
VERBOSE = os.environ.get("BNN_VERBOSE", "") not in ("", "0")
if not VERBOSE:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def quiet_fd2():
    """File descriptor 2 pointed at /dev/null inside the block (unless ``BNN_VERBOSE``):
    for C++ start-up lines that no logging setting reaches."""
    if VERBOSE:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` the usual way the first time it is imported, and runs that
    import's module code inside :func:`quiet_fd2`; then steps aside."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once; and the lookup below must not find this again
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_quietly(module):
            with quiet_fd2():
                run(module)
        spec.loader.exec_module = exec_quietly
        return spec


if "tensorflow" not in sys.modules:
    if VERBOSE:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    elif not any(isinstance(f, _QuietTensorFlow) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlow())


def var_key(variable) -> str:
    """Keras 2's key for a variable's optimizer state (its slots): the same for a
    mirrored variable and each of its per-device copies. Keras keeps this function
    private; it is reached from here only."""
    from tf_keras.src.optimizers.legacy import optimizer_v2

    return optimizer_v2._var_key(variable)
