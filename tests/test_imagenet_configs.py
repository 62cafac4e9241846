"""§5.3 configs: every experiment tied to the numbers of its source, its schedules to the
authors' and larq-zoo's step counts and shapes, and its reduced scales buildable.

Sources of the tables below:
* authors: plumerai/rethinking-bnn-optimization, commit 2823525,
  bnn_optimization/models/{binary_alexnet,xnor,birealnet}.py, hyperparameter set ``bop``
  (README §5.3: ``bnno train <model> --dataset imagenet2012 --hparams-set bop``);
* v1: the paper's arXiv v1, §5.3 (Bi-Real Net, 100 epochs);
* larq-zoo 2.4.0: larq_zoo/training/basic_experiments.py, ``TrainBinaryAlexNet``,
  ``TrainXNORNet``, ``TrainBiRealNet`` (also checked against the installed package below);
* Bop and Beyond: CuauSuarez/Bop2ndOrder, conference branch,
  bnn_optimization/models/{xnor_batch,birealnet_batch}.py, hyperparameter set
  ``bop2ndOrder_ImageNet`` (README §5.3: ``bnno train <model>_batch --dataset imagenet2012
  --hparams-set bop2ndOrder_ImageNet``), the biased Bop2ndOrder class.
"""
from types import SimpleNamespace

import pytest

from configs import EXPERIMENTS, GROUPS
from configs import imagenet as cfg
from experiments.errors import ConfigError
from experiments.engine.experiment import build
from experiments.optimizers.schedules import PiecewiseConstant

import larq as lq
import tensorflow as tf
from experiments.models.base import every_layer

N_TRAIN = 1281167  # ImageNet train split: the authors' `decay_step = epochs * 1281167 // batch`

# name: (model, epochs, batch, tau, gamma start, gamma end, Adam start, Adam end)
BOP = {
    "sec53_binary_alexnet": ("BinaryAlexNet", 150, 1024, 1e-8, 1e-4, 1e-6, 2.5e-3, 5e-6),  # authors
    "sec53_xnornet": ("XNORNet", 100, 1024, 1e-8, 1e-4, 1e-6, 2.5e-3, 5e-6),  # authors
    "sec53_birealnet": ("BiRealNet", 300, 1024, 1e-8, 1e-4, 1e-6, 2.5e-3, 5e-6),  # authors
    "sec53_birealnet_arxiv_v1": ("BiRealNet", 100, 256, 1e-7, 5e-4, 2.5e-6, 2.5e-3, 2.5e-6),  # v1
}
# name: (model, epochs, batch, learning-rate schedule) -- larq-zoo 2.4.0's recipes
LATENT = {
    "sec53_binary_alexnet_latent_adam": ("BinaryAlexNet", 150, 512, {  # TrainBinaryAlexNet
        "optimizer.lr": "Staircase", "optimizer.lr.value": 1e-2,
        "optimizer.lr.every_epochs": 10, "optimizer.lr.factor": 0.5}),
    "sec53_xnornet_latent_adam": ("XNORNet", 100, 1200, {  # TrainXNORNet
        "optimizer.lr": "PiecewiseConstant", "optimizer.lr.value": 1e-3,
        "optimizer.lr.boundary_epochs": (19, 30, 44, 53, 66, 76, 86),
        "optimizer.lr.multipliers": (1.0, 0.5, 0.1, 0.05, 0.01, 0.005, 0.001, 0.0001)}),
    "sec53_birealnet_latent_adam": ("BiRealNet", 300, 512, {  # TrainBiRealNet: 5e-3 -> 0
        "optimizer.lr": "Linear", "optimizer.lr.value": 5e-3,
        "optimizer.lr.end": pytest.approx(5e-3 / 750684)}),
}
# name: (model, epochs) -- Bop and Beyond's bop2ndOrder_ImageNet, batch 1024 for both
BOP2NDORDER = {
    "sec53_xnornet_bop2ndorder": ("XNORNet", 100),  # xnor_batch.py
    "sec53_birealnet_bop2ndorder": ("BiRealNet", 150),  # birealnet_batch.py
}
# bop2ndOrder_ImageNet, both files alike: every value linear over the run, tau rising
BOP2NDORDER_PRESET = {
    "batch_size": 1024, "optimizer": "Bop2ndOrder",
    "optimizer.gamma": "Linear", "optimizer.gamma.value": 1e-4, "optimizer.gamma.end": 1e-9,
    "optimizer.sigma": "Linear", "optimizer.sigma.value": 1e-5, "optimizer.sigma.end": 1e-2,
    "optimizer.tau": "Linear", "optimizer.tau.value": 1e-8, "optimizer.tau.end": 1e-5,
    "optimizer.real_lr": "Linear", "optimizer.real_lr.value": 2.5e-3,
    "optimizer.real_lr.end": 5e-6,
}
# The authors' networks at full size (models/*.py docstrings), L2 5e-7 on XNOR-Net's real
# first and last layers (authors' xnor.py, `regularization_quantity`).
FULL_MODEL = {
    "BinaryAlexNet": {"model.conv_filters": (64, 192, 384, 384, 256), "model.dense_units": 4096},
    "XNORNet": {"model.conv_filters": (96, 256, 384, 384, 256), "model.dense_units": 4096,
                "model.fc_kernel_size": 6, "model.l2": 5e-7},
    "BiRealNet": {"model.filters": 64},
}
ALL = list(BOP) + list(LATENT) + list(BOP2NDORDER)


def paper_config(name) -> dict:
    return build(EXPERIMENTS[name], {}).resolved_config()


def built_schedule(exp, schedule):
    """A schedule as the engine builds it for ``exp``'s planned train split: the engine's
    contract is that a linear decay spans ``int(epochs * n_train / batch_size)`` steps, so
    ``steps_per_epoch`` is passed as the exact ratio ``n_train / batch_size``."""
    plan = exp.plan_data()
    return schedule.build(plan.n_train / exp.batch_size, exp.epochs)


def test_groups_and_registration():
    assert GROUPS["sec53"] == ["sec53_binary_alexnet", "sec53_xnornet", "sec53_birealnet"]
    assert GROUPS["sec53_latent"] == list(LATENT)
    assert GROUPS["imagenet"] == GROUPS["sec53"] + ["sec53_birealnet_arxiv_v1"] + list(LATENT)
    assert GROUPS["beyond_imagenet"] == list(BOP2NDORDER)  # `make beyond-imagenet`
    for name in ALL:
        section = "beyond" if name in BOP2NDORDER else "5.3"
        assert EXPERIMENTS[name].name == name and EXPERIMENTS[name].section == section


@pytest.mark.parametrize("name", ALL)
def test_paper_scale_shared_settings(name):
    c = paper_config(name)
    model = (BOP.get(name) or LATENT.get(name) or BOP2NDORDER[name])[0]
    assert (c["scale"], c["dataset"], c["dataset.image_size"], c["dataset.crop_padding"]) == (
        "paper", "ImageNet", 224, 32)  # authors' preprocessing: 224, centre crop 224/256
    assert (c["train_subset"], c["validation"]) == (0, "test")  # full train, `validation` split
    assert c["model"] == model
    assert {k: c[k] for k in FULL_MODEL[model]} == FULL_MODEL[model]


@pytest.mark.parametrize("name", list(BOP))
def test_bop_hyperparameters(name):
    model, epochs, batch, tau, g0, g1, lr0, lr1 = BOP[name]
    c = paper_config(name)
    assert (c["epochs"], c["batch_size"], c["optimizer"]) == (epochs, batch, "Bop")
    assert (c["optimizer.tau"], c["optimizer.tau.value"]) == ("Constant", tau)
    assert (c["optimizer.gamma"], c["optimizer.gamma.value"], c["optimizer.gamma.end"]) == (
        "Linear", g0, g1)
    assert (c["optimizer.real_lr"], c["optimizer.real_lr.value"], c["optimizer.real_lr.end"]) == (
        "Linear", lr0, lr1)


@pytest.mark.parametrize("name", list(BOP2NDORDER))
def test_bop2ndorder_imagenet_preset(name):
    """Bop and Beyond's ImageNet runs: the biased class under bop2ndOrder_ImageNet, on the
    §5.3 networks (XNOR-Net keeps its L2 5e-7: xnor_batch.py's regularization_quantity;
    birealnet_batch.py's is read by no layer)."""
    model, epochs = BOP2NDORDER[name]
    c = paper_config(name)
    assert (c["epochs"], c["model"]) == (epochs, model)
    assert {k: c[k] for k in BOP2NDORDER_PRESET} == BOP2NDORDER_PRESET
    assert c.get("model.l2") == {"XNORNet": 5e-7, "BiRealNet": None}[model]


@pytest.mark.parametrize("name", list(BOP2NDORDER))
def test_bop2ndorder_schedules_reach_their_ends_at_the_authors_step_count(name):
    """All four linear schedules, falling (gamma, Adam) or rising (sigma, tau), take their
    preset's end value at ``epochs * 1281167 // 1024`` steps and not a step earlier."""
    exp = build(EXPERIMENTS[name])
    steps = exp.epochs * N_TRAIN // exp.batch_size
    for key in ("gamma", "sigma", "tau", "real_lr"):
        schedule = getattr(exp.optimizer, key)
        built = built_schedule(exp, schedule)
        # Keras evaluates (start - end) * (1 - t/T) + end in float32: a rising schedule's
        # start cancels against its larger end (sigma's 1e-5 comes out as 9.9996e-6), in
        # their runs as here
        assert float(built(0)) == pytest.approx(schedule.value, rel=1e-4), key
        end, last = float(built(steps)), float(built(steps - 1))
        assert end == pytest.approx(schedule.end, rel=1e-5), key
        rising = schedule.end > schedule.value
        assert (last < end) if rising else (last > end), key


@pytest.mark.parametrize("name", list(LATENT))
def test_latent_adam_hyperparameters(name):
    model, epochs, batch, lr = LATENT[name]
    c = paper_config(name)
    assert (c["epochs"], c["batch_size"], c["optimizer"]) == (epochs, batch, "LatentAdam")
    # larq-zoo's own latent quantizer and constraint, no extra clipping or Xavier scaling
    assert (c["optimizer.ste"], c["optimizer.clip"], c["optimizer.xavier_scaling"],
            c["optimizer.binary_lr_multiplier"]) == ("model_default", 0.0, False, 1.0)
    assert {k: c[k] for k in lr} == lr


def test_latent_recipes_match_the_installed_larq_zoo():
    """The LATENT table against larq-zoo 2.4.0's recipe classes themselves."""
    from larq_zoo.training import basic_experiments as zoo

    def default(cls, field):
        return cls.__component_fields__[field].get_default(cls())

    for name, cls in [("sec53_binary_alexnet_latent_adam", zoo.TrainBinaryAlexNet),
                      ("sec53_xnornet_latent_adam", zoo.TrainXNORNet),
                      ("sec53_birealnet_latent_adam", zoo.TrainBiRealNet)]:
        assert (default(cls, "epochs"), default(cls, "batch_size")) == LATENT[name][1:3], name

    spe = 100  # any whole number of steps per epoch: an epoch-indexed schedule's shape
    alexnet = build(EXPERIMENTS["sec53_binary_alexnet_latent_adam"]).optimizer.lr.build(spe, 150)
    xnor = build(EXPERIMENTS["sec53_xnornet_latent_adam"]).optimizer.lr.build(spe, 100)
    for epoch in range(150):
        for step in (epoch * spe, epoch * spe + spe - 1):  # first and last step of the epoch
            assert float(alexnet(step)) == pytest.approx(
                zoo.TrainBinaryAlexNet.learning_rate_schedule(None, epoch), rel=1e-6)
            if epoch < 100:
                assert float(xnor(step)) == pytest.approx(zoo.TrainXNORNet.learning_rate_schedule(
                    SimpleNamespace(initial_lr=1e-3), epoch), rel=1e-6), (epoch, step)

    # Bi-Real Net: larq-zoo's PolynomialDecay(5e-3, 750684, 0) and the suite's linear decay
    # over int(300 * 1281167 / 512) = 750683 steps are the same line.
    optimizer = default(zoo.TrainBiRealNet, "optimizer")
    theirs = tf.keras.optimizers.schedules.deserialize(optimizer.get_config()["learning_rate"])
    exp = build(EXPERIMENTS["sec53_birealnet_latent_adam"])
    ours = built_schedule(exp, exp.optimizer.lr)
    for step in (0, 1, 1000, 250_000, 500_000, 700_000, 750_000):
        assert float(ours(step)) == pytest.approx(float(theirs(step)), rel=1e-3), step
    assert float(ours(300 * N_TRAIN // 512)) > 0  # lr > 0 at every step, unlike 750684's end


@pytest.mark.parametrize("name,keys", [(n, ("gamma", "real_lr")) for n in BOP]
                         + [("sec53_birealnet_latent_adam", ("lr",))])
def test_linear_decay_spans_the_authors_step_count(name, keys):
    """Every linear schedule reaches its end exactly at ``epochs * 1281167 // batch`` (the
    authors' ``decay_step``), not a step earlier or later."""
    exp = build(EXPERIMENTS[name])
    assert exp.plan_data().n_train == N_TRAIN  # official size (or a prepared full split)
    steps = exp.epochs * N_TRAIN // exp.batch_size
    for key in keys:
        schedule = getattr(exp.optimizer, key)
        built = built_schedule(exp, schedule)
        assert float(built(0)) == pytest.approx(schedule.value, rel=1e-6)
        assert float(built(steps)) == pytest.approx(schedule.end, rel=1e-5), key
        assert float(built(steps - 1)) > schedule.end * (1 + 1e-4), key


SCALE_MODEL = {  # the reduced scales' widths (configs/imagenet.py)
    ("BinaryAlexNet", "quick"): {"model.conv_filters": (16, 48, 96, 96, 64), "model.dense_units": 1024},
    ("BinaryAlexNet", "tiny"): {"model.conv_filters": (4, 4, 4, 4, 4), "model.dense_units": 8},
    ("XNORNet", "quick"): {"model.conv_filters": (24, 64, 96, 96, 64), "model.dense_units": 1024,
                           "model.fc_kernel_size": 1},
    ("XNORNet", "tiny"): {"model.conv_filters": (4, 4, 4, 4, 4), "model.dense_units": 8,
                          "model.fc_kernel_size": 1},
    ("BiRealNet", "quick"): {"model.filters": 16},
    ("BiRealNet", "tiny"): {"model.filters": 4},
}


def _quantizer_config(layer):
    """A kernel quantizer's class (or function) and settings, without its unique name."""
    q = layer.kernel_quantizer
    if not hasattr(q, "get_config"):
        return getattr(q, "__name__", q)
    return type(q).__name__, {k: v for k, v in q.get_config().items() if k != "name"}


@pytest.mark.parametrize("scale", ["tiny", "quick"])
@pytest.mark.parametrize("name", ALL)
def test_reduced_scales_resolve_validate_and_build(name, scale):
    exp = build(EXPERIMENTS[name], {"scale": scale})
    c = exp.resolved_config()
    model = c["model"]
    size = 32 if (model, scale) == ("BiRealNet", "tiny") else 64
    assert (c["scale"], c["dataset.image_size"], c["dataset.crop_padding"]) == (
        scale, size, {64: 9, 32: 5}[size])  # the paper's crop fraction 224/256, kept
    expected = ({"train_subset": 40, "batch_size": 8, "epochs": 1, "flip_log_interval": 1}
                if scale == "tiny" else
                {"train_subset": 20000, "batch_size": 128, "epochs": cfg.QUICK_EPOCHS})
    assert {k: c[k] for k in expected} == expected
    assert {k: c[k] for k in SCALE_MODEL[model, scale]} == SCALE_MODEL[model, scale]
    paper = paper_config(name)
    kept = [k for k in paper if k.startswith("optimizer.") and not k.endswith(
        ("every_epochs", "boundary_epochs"))]
    assert {k: c[k] for k in kept} == {k: paper[k] for k in kept}  # values kept, schedules squeezed

    net = exp.model.build(input_shape=exp.dataset.input_shape(),
                          num_classes=exp.dataset.num_classes,
                          represent=exp.optimizer.represent)
    assert net.output_shape == (None, 1000)
    binary = [layer for layer in net.layers if getattr(layer, "kernel_quantizer", None)]
    assert binary
    if name in BOP or name in BOP2NDORDER:  # the kernels are the binary weights, marked
        for layer in binary:
            assert isinstance(layer.kernel_quantizer, lq.quantizers.NoOp)
            assert layer.kernel_quantizer.precision == 1 and layer.kernel_constraint is None
    else:  # the same quantizer and constraint as the model's own latent-weight version
        reference = exp.model.build(input_shape=exp.dataset.input_shape(), num_classes=1000,
                                    represent=every_layer("model_default"))
        ref = [layer for layer in reference.layers if getattr(layer, "kernel_quantizer", None)]
        assert [_quantizer_config(a) for a in binary] == [_quantizer_config(b) for b in ref]
        assert all(isinstance(layer.kernel_constraint, lq.constraints.WeightClip)
                   for layer in binary)


def test_quick_scale_compresses_the_step_schedules_into_its_epochs():
    alexnet = build(EXPERIMENTS["sec53_binary_alexnet_latent_adam"], {"scale": "quick"})
    assert alexnet.optimizer.lr.every_epochs == 1  # whole epochs: x0.5 each epoch
    xnor = build(EXPERIMENTS["sec53_xnornet_latent_adam"], {"scale": "quick"})
    assert xnor.optimizer.lr.boundary_epochs == pytest.approx(
        tuple(e * cfg.QUICK_EPOCHS / 100 for e in cfg.XNOR_LR_EPOCHS))


def test_crop_padding_keeps_the_paper_crop_fraction():
    assert cfg.crop_padding(224) == 32
    for size in (32, 64, 96, 128):
        assert size / (size + cfg.crop_padding(size)) == pytest.approx(224 / 256, abs=0.011)


def test_piecewise_constant_switches_at_the_first_step_of_a_boundary_epoch():
    schedule = PiecewiseConstant(value=1.0, boundary_epochs=(1, 2.5), multipliers=(1, 0.5, 0.25))
    built = schedule.build(10, 4)
    assert [float(built(s)) for s in (0, 9, 10, 24, 25, 39)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    assert schedule.values() == [1, 0.5, 0.25]
    assert PiecewiseConstant(value=2.0).build(10, 4) == 2.0  # no boundary: a constant
    with pytest.raises(ConfigError, match="one value more"):
        PiecewiseConstant(value=1.0, boundary_epochs=(1,), multipliers=(1,)).check_schedule("lr")
    with pytest.raises(ConfigError, match="positive and increasing"):
        PiecewiseConstant(value=1.0, boundary_epochs=(2, 1), multipliers=(1, 1, 1)).check_schedule("lr")
    with pytest.raises(ConfigError, match="must be > 0"):
        PiecewiseConstant(value=1.0, boundary_epochs=(1,), multipliers=(1, 0)).check_schedule("lr")
    with pytest.raises(ConfigError, match="boundary steps"):
        PiecewiseConstant(value=1.0, boundary_epochs=(0.01,), multipliers=(1, 1)).build(10, 4)


def test_bad_piecewise_override_is_rejected_by_build():
    with pytest.raises(ConfigError, match="optimizer.lr.multipliers"):
        build(EXPERIMENTS["sec53_xnornet_latent_adam"],
              {"optimizer.lr.multipliers": (1.0, 0.5)})
