"""The reproduction suite's code, in layers that import one way (``tests/test_layout.py``):

* ``errors``, ``locks``, ``_keras2``, ``registry`` (finds the declarations, ``configs/``,
  through an entry point), ``plugins``, ``fakes`` (tiny data in the real formats): shared;
* ``optimizers``, ``datasets`` and ``models``: the three component contracts, each in
  its package's ``base``; the optimizers and datasets are modules of their packages, the
  models live beside this package (``models/``, found through the ``bnn.models`` entry
  point) and import their contract from here, never the other way round;
* ``engine``: the experiment component, the training loop (``train``, with its step,
  pipelines, run records and signal handling in modules of their own), run folders,
  sweeps, tuning and the drivers of groups; it knows only the component contracts;
* ``inertia`` (§3 measurements, run as engine tasks) and ``analysis`` (reads runs);
* ``report`` (REPORT.md, figures), ``tools`` (bench, GPU check and estimate, smoke) and
  ``cli`` (the ``bnn`` command). Nothing here imports ``configs``, ``scripts`` or ``tests``.

Importing this package sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is first
imported: larq's optimizers (``Bop``, ``CaseOptimizer``) are Keras 2 optimizers and
``import larq`` fails under Keras 3. A user of the suite never has to set it. It does not
import TensorFlow itself (``_keras2``), so what only reads run folders runs without it.
"""
from experiments import _keras2  # noqa: F401  (side effect: selects Keras 2)
