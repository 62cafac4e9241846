"""The engine: the experiment component and its validation (``experiment``), the one
training loop (``train``), run folders (``runs``), distribution strategies
(``distribute``), flip counting (``flips``), memory accounting (``memory``), and the
multi-run drivers (``sweep``, ``tuning``). It imports optimizers, datasets and models,
never ``configs`` or the analysis."""
