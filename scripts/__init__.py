"""Thin command-line entry points (``python -m scripts.NAME``), one per make target that
is not a ``bnn`` command; each only calls the ``main`` of its module in the package
(``experiments/report/``, ``experiments/tools/``)."""
