"""Tools around the experiments, each a ``main`` that ``scripts/`` calls: ``bench``
(``make bench``: the suite's step against a plain ``model.fit``, and the input pipelines,
timed in ``paired_rounds``), ``gpu_check`` (``make gpu-check``), ``gpu_hours`` (``make
gpu-hours``: an estimate) and ``imagenet_smoke`` (``make imagenet-smoke``). The two
measuring tools share ``measure``: their data overrides, the experiment built from the
registry, the timed calls of the loop's step, and their JSON's provenance."""
