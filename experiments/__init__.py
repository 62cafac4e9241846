"""The reproduction suite's code, in layers that import one way (``tests/test_layout.py``):

* ``errors``, ``locks``, ``_keras2``, ``registry`` (finds the declarations, ``configs/``,
  through an entry point), ``plugins``, ``fakes`` (tiny data in the real formats): shared;
* ``optimizers`` and ``datasets``: one module per component, each package with its
  contract in ``base`` (and ``models/``, beside this package);
* ``engine``: the experiment component, the training loop, run folders, sweeps, tuning
  and the drivers of groups; it knows only the component contracts;
* ``inertia`` (§3 measurements, run as engine tasks) and ``analysis`` (reads runs);
* ``report`` (REPORT.md, figures), ``tools`` (bench, GPU check and estimate, smoke) and
  ``cli`` (the ``bnn`` command). Nothing here imports ``configs``, ``scripts`` or ``tests``.

Importing this package sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is first
imported: larq's optimizers (``Bop``, ``CaseOptimizer``) are Keras 2 optimizers and
``import larq`` fails under Keras 3. A user of the suite never has to set it.
"""
from experiments import _keras2  # noqa: F401  (side effect: selects Keras 2)
