"""What REPORT.md and the figures show, each experiment named once (views of
``experiments/analysis/views.py``): the registry's ``VIEWS``, which the report
(``experiments/report/``) reads and passes to the analysis code. Tuned comparisons and
sweeps are their own declarations (``TUNINGS``, ``SWEEPS``); these name which of them
each section shows."""
from configs.cifar10 import HORIZONS as HORIZON_EPOCHS, LADDER_MARGIN_PP
from experiments.analysis.views import AblationView, CurvesView, InertiaView

# §5.1 / Figure 1: the γ sweep at τ = 1e-6 and the τ sweep at γ = 1e-3 (the paper's).
SEC51 = AblationView(
    gamma={1e-4: "sec51_gamma_1e-4", 1e-3: "sec51_gamma_1e-3_tau_1e-6", 1e-2: "sec51_gamma_1e-2"},
    tau={0.0: "sec51_tau_0", 1e-6: "sec51_gamma_1e-3_tau_1e-6", 1e-5: "sec51_tau_1e-5"},
    title="§5.1")

# §5.2 / Figure 2 at the paper's hyperparameters (at reduced length, labelled as such).
SEC52 = CurvesView(
    {"Bop": "sec52_bop", "Adam (latent weights)": "sec52_adam"}, title="§5.2",
    note=("paper hyperparameters at reduced length: handicaps Bop by construction "
          "(docs/methods.md#a-fair-comparison-at-reduced-scale)"))

# §3: the inertia measurements.
SEC3 = InertiaView(
    sgd_large_lr="sec3_sgd_lr_1", sgd_small_lr="sec3_sgd_lr_0.01",
    sgd_small_lr_small_init="sec3_sgd_lr_0.01_init_0.01",
    adam_decayed="sec52_adam", adam_constant="sec3_adam_constant",
    approximation="sec3_approximation", theorem1="sec3_theorem1",
    flips={"Bop (sec52_bop)": "sec52_bop",
           "latent Adam, decayed (sec52_adam)": "sec52_adam",
           "latent Adam, constant (sec3_adam_constant)": "sec3_adam_constant",
           "latent SGD, lr 1 (sec3_sgd_lr_1)": "sec3_sgd_lr_1"})

# The §5.2 baseline's initialisation comparison (U[-1, 1] vs Glorot).
INIT = "sec52_adam"
# Steps and time to the stated accuracies, for these experiments' own-config runs.
TIME_TO_ACCURACY = ("sec52_bop", "sec52_adam", "sec52_bop2ndorder",
                    "sec52_bop2ndorder_unbiased")
# §5.2 against training length: the rungs of the horizon ladder (TUNINGS), shortest first,
# and the pairs whose test-accuracy difference is followed along it (higher, lower).
HORIZON_LADDER = ("sec52_horizon_8", "sec52_horizon_16", "sec52_horizon_32", "sec52_horizon_64")
HORIZONS = HORIZON_EPOCHS  # each rung's length (epochs), in the same order
HORIZON_PAIRS = (("sec52_bop", "sec52_adam"), ("sec52_bop2ndorder", "sec52_bop"))
# Each pair's equivalence verdict per rung uses the ladder's declared margin (pp); the
# first pair's difference is also fitted against log2(epochs) across the rungs (the trend,
# a description of those rungs only) and set beside the paper's full-scale difference.
HORIZON_MARGIN_PP = LADDER_MARGIN_PP
# `bnn compare`: an entrant joins each rung as a copy of this arm (its experiment, with
# optimizer= replaced) and is compared with it along the ladder.
ENTRANT_BASE = "sec52_bop"
# The declared sweeps behind "Re-making runs on other machines" (the committed seeds that
# re-made sets are judged against) and "Mixed precision" (float32 vs mixed per optimizer).
REMAKE_REFERENCE = "remake_reference"
PRECISION_STUDIES = ("precision_bop", "precision_adam")
