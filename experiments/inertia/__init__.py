"""§3 "latent weights are inertia": the measurements (``measurements``: the approximation
test, Theorem 1's lockstep pairs) and the engine tasks ``configs/inertia.py`` declares
(``tasks``)."""
