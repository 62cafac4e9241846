"""The paper's registry: every experiment, group, tuned comparison and sweep of the
suite, and what the report shows, declared in one place.

The suite finds this module through the ``bnn.registry`` entry point in
``pyproject.toml`` (``experiments.registry``), never by importing it; the CLI, the
Makefile's targets, the report and the tests all read ``EXPERIMENTS``, ``GROUPS``,
``TUNINGS``, ``SWEEPS``, ``VIEWS`` and ``SECTIONS`` from here, so an experiment cannot
exist in one and be missing from another.
"""
import experiments  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from configs import analysis, bayesbinn, bop2ndorder, cifar10, imagenet, inertia

_CLASSES = [
    cifar10.Sec51Gamma1em2, cifar10.Sec51Gamma1em3Tau1em6, cifar10.Sec51Gamma1em4,
    cifar10.Sec51Tau0, cifar10.Sec51Tau1em5,
    cifar10.Sec52Bop, cifar10.Sec52Adam,
    inertia.Sec3Approximation, inertia.Sec3SgdLr1, inertia.Sec3SgdLr001,
    inertia.Sec3SgdLr001Init001, inertia.Sec3AdamConstant, inertia.Sec3Theorem1,
    imagenet.Sec53BinaryAlexNet, imagenet.Sec53XNORNet, imagenet.Sec53BiRealNet,
    imagenet.Sec53BiRealNetArxivV1,
    imagenet.Sec53BinaryAlexNetLatentAdam, imagenet.Sec53XNORNetLatentAdam,
    imagenet.Sec53BiRealNetLatentAdam,
    bop2ndorder.Sec52Bop2ndOrder, bop2ndorder.Sec52Bop2ndOrderUnbiased,
    bop2ndorder.Sec53XNORNetBop2ndOrder, bop2ndorder.Sec53BiRealNetBop2ndOrder,
    bayesbinn.BayesBiNNCifar10,
]
EXPERIMENTS = {cls.name: cls for cls in _CLASSES}
assert len(EXPERIMENTS) == len(_CLASSES), "two experiments share a name"
# Tuned comparisons (experiments/engine/tuning.py): run by name like a group.
TUNINGS = {t.name: t for t in [cifar10.SEC52_TUNED, *cifar10.HORIZON_LADDER]}
assert not set(TUNINGS) & set(EXPERIMENTS), "a tuning shares a name with an experiment"
# Sweeps (experiments/engine/sweep.py): `bnn sweep NAME [shard=i/n]`. Their points live
# in folders named after the sweep, a point two sweeps share in the first one's.
SWEEPS = {s.name: s for s in [cifar10.SEC51_MAP, cifar10.REMAKE_REFERENCE,
                                 cifar10.PRECISION_BOP, cifar10.PRECISION_ADAM]}
assert not set(SWEEPS) & (set(EXPERIMENTS) | set(TUNINGS)), "a sweep shares a name"

GROUPS = {
    "sec51_gamma": ["sec51_gamma_1e-2", "sec51_gamma_1e-3_tau_1e-6", "sec51_gamma_1e-4"],
    "sec51_tau": ["sec51_tau_0", "sec51_gamma_1e-3_tau_1e-6", "sec51_tau_1e-5"],
    "sec51": ["sec51_gamma_1e-2", "sec51_gamma_1e-3_tau_1e-6", "sec51_gamma_1e-4",
              "sec51_tau_0", "sec51_tau_1e-5"],
    "sec52": ["sec52_bop", "sec52_adam"],
}
GROUPS["cifar10"] = GROUPS["sec51"] + GROUPS["sec52"]
# `make cifar10-quick`: §5.1 with three seeds (seed-major, so a partial run still has every
# setting) and the tuned §5.2 comparison. The paper-hyperparameter §5.2 quick runs are
# `make sec52 SCALE=quick` (labelled as such in the report).
QUICK_SEEDS = (0, 1, 2)
GROUPS["cifar10_quick"] = ([f"{name} scale=quick seed={seed}" for seed in QUICK_SEEDS
                            for name in GROUPS["sec51"]]
                           + ["sec52_tuned arms=sec52_bop,sec52_adam"])
# `make cifar10-long`: §5.1 at the long scale (30 epochs) with three seeds, seed-major, and
# the §5.2 horizon ladder, shortest rung first (each rung is a whole tuned comparison).
GROUPS["cifar10_long"] = ([f"{name} scale=long seed={seed}" for seed in QUICK_SEEDS
                           for name in GROUPS["sec51"]]
                          + [t.name for t in cifar10.HORIZON_LADDER])
# §5.2 baseline's latent-weight initialisation: Courbariaux's U[-1, 1] vs Glorot, 3 seeds
# each, at the paper's hyperparameters and quick length.
GROUPS["sec52_init"] = [f"sec52_adam scale=quick seed={seed} model.kernel_init={init}"
                        for init in ("uniform", "glorot_uniform") for seed in QUICK_SEEDS]
# §5.3: the camera-ready Bop runs, the arXiv v1 run, larq-zoo's latent-weight baselines.
GROUPS["sec53"] = ["sec53_binary_alexnet", "sec53_xnornet", "sec53_birealnet"]
GROUPS["sec53_latent"] = ["sec53_binary_alexnet_latent_adam", "sec53_xnornet_latent_adam",
                          "sec53_birealnet_latent_adam"]
GROUPS["imagenet"] = GROUPS["sec53"] + ["sec53_birealnet_arxiv_v1"] + GROUPS["sec53_latent"]
# Beyond the paper: Bop2ndOrder's CIFAR-10 presets, biased and unbiased
# (configs/bop2ndorder.py), and BayesBiNN on its own network (configs/bayesbinn.py) ...
GROUPS["beyond"] = ["sec52_bop2ndorder", "sec52_bop2ndorder_unbiased", "bayesbinn_cifar10"]
# ... their arms of the tuned §5.2 comparison (same grid size and seeds as Bop's) ...
GROUPS["beyond_quick"] = ["sec52_tuned arms=sec52_bop2ndorder,sec52_bop2ndorder_unbiased"]
# ... and its ImageNet preset on XNOR-Net and Bi-Real Net.
GROUPS["beyond_imagenet"] = ["sec53_xnornet_bop2ndorder", "sec53_birealnet_bop2ndorder"]
# §3 at the quick scale. A member may carry its own defaults ("name key=value ..."): extra
# seeds (every §3 claim compares seeds), c = 2^-7 and 2^7 for Theorem 1 (exact in float32,
# unlike 0.01 and 100), and the §5.2 quick runs its flip comparison needs (skipped if
# already done).
GROUPS["sec3"] = (["sec3_theorem1", "sec3_theorem1 factors=(0.0078125,128.0)"]
                  + [f"{name} seed={seed}" for seed in QUICK_SEEDS
                     for name in ("sec3_sgd_lr_1", "sec3_sgd_lr_0.01", "sec3_sgd_lr_0.01_init_0.01",
                                  "sec3_approximation", "sec3_adam_constant")]
                  + [f"sec52_adam scale=quick seed={seed}" for seed in QUICK_SEEDS]
                  + ["sec52_bop scale=quick"])

# What REPORT.md and the figures show (configs/analysis.py), and its sections' headings
# by paper section (an experiment's `section`; "beyond" for Bop2ndOrder's).
VIEWS = analysis
SECTIONS = {
    "3": "§3 Latent weights are inertia",
    "5.1": "§5.1 Hyperparameter ablation (Figure 1)",
    "5.2": "§5.2 Bop vs latent weights on CIFAR-10 (Figure 2)",
    "5.3": "§5.3 ImageNet",
    "beyond": "Beyond the paper: Bop2ndOrder (Suarez-Ramirez et al., \"Bop and Beyond\", 2021) "
              "and BayesBiNN (Meng et al., 2020)",
}
