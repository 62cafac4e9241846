"""Select Keras 2 (tf-keras) before TensorFlow is imported anywhere in the suite."""
import os
import sys

if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    raise ImportError(
        "TensorFlow was imported before the suite could select Keras 2. larq needs "
        "TF_USE_LEGACY_KERAS=1: import `experiments` or `models` before tensorflow, "
        "or export TF_USE_LEGACY_KERAS=1."
    )
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
