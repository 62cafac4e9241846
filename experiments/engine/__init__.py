"""The engine: the experiment component and its validation (``experiment``), the one
training loop (``train``), run folders and run ids (``runs``), distribution strategies
(``distribute``), flip counting (``flips``), memory accounting (``memory``), precision
(``precision``), the hardware fingerprint (``fingerprint``), and the multi-run pieces:
``sweep``, ``tuning``, ``drive`` (groups and tuned comparisons, sharded or not) and
``compare`` (``bnn compare``). It knows the optimizers, datasets and models only by their
contracts (never a concrete one) and never imports ``configs`` or the analysis."""
