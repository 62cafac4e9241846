"""The reproduction suite's code, in layers that import one way:

* ``errors``, ``locks``, ``_keras2``: shared by everything below;
* ``optimizers`` (one module per optimizer, the plug-in contract in ``optimizers.base``,
  hyperparameter schedules) and ``datasets`` (components and TFDS pipelines);
* ``engine``: the experiment component, the training loop, run folders, sweeps, tuning;
* ``inertia`` (§3 measurements, run as engine tasks) and ``analysis`` (reads runs);
* ``cli``: the ``bnn`` command, the only module that imports ``configs``.

Importing this package sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is first
imported: larq's optimizers (``Bop``, ``CaseOptimizer``) are Keras 2 optimizers and
``import larq`` fails under Keras 3. A user of the suite never has to set it.
"""
from experiments import _keras2  # noqa: F401  (side effect: selects Keras 2)
