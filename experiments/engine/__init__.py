"""The engine: the experiment component and its validation (``experiment``), its
component slots and what components declare about the run id (``components``), the one
training loop (``train``) and the helpers it calls - the compiled step (``step``), the
input pipelines (``pipelines``), the run folder's records (``records``), SIGTERM
(``signals``) -, run folders and run ids (``runs``), distribution strategies
(``distribute``), flip counting (``flips``), memory accounting (``memory``), precision
(``precision``), the hardware fingerprint (``fingerprint``), and the multi-run pieces:
``sweep``, ``tuning``, ``drive`` (groups and tuned comparisons, sharded or not) and
``compare`` (``bnn compare``). It knows the optimizers, datasets and models only by their
contracts (never a concrete one) and never imports ``configs`` or the analysis."""
