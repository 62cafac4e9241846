"""The training engine and experiment runner of the reproduction suite.

Importing this package sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is first
imported: larq's optimizers (``Bop``, ``CaseOptimizer``) are Keras 2 optimizers and
``import larq`` fails under Keras 3. A user of the suite never has to set it.
"""
from experiments import _keras2  # noqa: F401  (side effect: selects Keras 2)
