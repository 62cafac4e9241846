"""The experiment component: every field of a run, validated before any work.

The engine knows only the component contracts (``Dataset``, ``Model``, ``Optimizer``);
which dataset, model and optimizer a run uses is a declaration (``configs/``), a
command-line choice (``model=BiRealNet``) or a plug-in, found by class name among the
discovered components. A paper experiment is a subclass that changes only the defaults
that differ. Values resolve in this order: class defaults < the chosen ``scale`` preset
< ``key=value`` overrides from the command line. Unknown keys, unknown component names
and wrong types are refused by :func:`build`, invalid values by :func:`validate`; both
before data is loaded.
"""
import math
import os
import sys

from zookeeper import ComponentField, Field, component, configure
from zookeeper.core.field import ComponentField as _ComponentFieldType
from zookeeper.core.utils import (convert_to_snake_case, generate_component_subclasses,
                                  is_component_class, is_component_instance)

from experiments.datasets import Dataset
from experiments.errors import ConfigError
from experiments.engine import precision
from experiments.engine.components import component_rules, flatten_lookups
from experiments.engine.fingerprint import fingerprint
from experiments.engine.runs import check_run_id, config_hash, semantic
from experiments.engine.train import train
from experiments.optimizers import Optimizer
from experiments.models import Model

# "default" picks for itself (see experiments.engine.distribute.make_strategy); "auto" is its alias.
DISTRIBUTIONS = ("default", "one_device", "mirrored", "multi_worker")
VALIDATIONS = ("test", "holdout")


@component
class Experiment:
    """Train a model on a dataset (paper §5) and write a run directory (``experiments.engine.runs``).

    Class attributes of subclasses (not config fields): ``name`` (the CLI name and run
    folder), ``section`` (paper section), ``scales`` (preset overrides per scale).
    """

    name = "experiment"
    section = ""
    scales = {"paper": {}}
    # What `run` does: None = train (experiments.engine.train); a config may declare another
    # task as staticmethod(fn), fn(experiment) -> summary (e.g. experiments/inertia/tasks.py).
    task = None

    scale: str = Field("paper")
    epochs: int = Field(100)
    batch_size: int = Field(100)
    seed: int = Field(0)
    validation: str = Field("test")
    holdout: int = Field(5000)
    # With validation="holdout": evaluate the test split once after the last epoch
    # (summary's test_accuracy); tuning picks on the holdout, never on this.
    final_test: bool = Field(False)
    train_subset: int = Field(0)
    data_dir: str = Field(os.path.join("~", "tensorflow_datasets"))
    # The three components (`configs/` gives each experiment its defaults); where the raw
    # data come from is the dataset's own field (e.g. dataset.archive).
    dataset: Dataset = ComponentField()
    model: Model = ComponentField()
    optimizer: Optimizer = ComponentField()
    flip_log_interval: int = Field(10)
    steps_per_loop: int = Field(1)
    distribution: str = Field("default")
    deterministic: bool = Field(False)
    results_dir: str = Field(os.path.join("results", "runs"))
    # The folder under results_dir that holds the run ("" = the experiment's name); a
    # declared sweep's points live in the sweep's (experiments.engine.sweep).
    folder: str = Field("")
    run_id: str = Field("")
    tensorboard: bool = Field(True)
    progress: bool = Field(True)
    # A run whose training loss exceeds this many times its first steps' loss has
    # diverged and stops as `failed` (0 = only non-finite losses stop it).
    divergence_factor: float = Field(1e4)
    # Checkpoints also every N steps / M minutes within an epoch (0 = off); a run resumed
    # from one continues mid-epoch exactly where it stopped.
    checkpoint_every_steps: int = Field(0)
    checkpoint_every_minutes: float = Field(0.0)
    cluster_timeout_s: float = Field(300.0)  # multi-worker: how long to wait for the others
    # With several replicas, batch-norm statistics over the global batch (as on one
    # device); False: per replica, as plain Keras does under MirroredStrategy.
    sync_batchnorm: bool = Field(True)
    # Numeric precision (experiments.engine.precision): float32 (the authors'),
    # mixed_bfloat16, mixed_float16 (GPUs, loss scaling), or auto (bfloat16 where it is
    # native, else float32; resolved when the config is built, and part of the run id).
    precision: str = Field("float32")
    force_precision: bool = Field(False)  # run mixed_float16 without a GPU anyway
    # XLA-compile each training step: off by default, since XLA's CPU code is slower than
    # oneDNN's kernels here (make bench measures it); worth trying on GPUs.
    jit_compile: bool = Field(False)

    def __pre_configure__(self, conf):
        # Without scale= on the command line, the class's own default scale applies (§3
        # experiments default to "quick"); its preset must follow it, not "paper".
        scale = conf.get("scale", self.__component_fields__["scale"].get_default(self))
        if scale not in self.scales:
            raise ConfigError(
                f"scale={scale!r} is not defined for {self.name}; choose one of "
                f"{sorted(self.scales)}"
            )
        # Preset keys that do not apply to a component the user swapped in (e.g.
        # sec52_bop's gamma.every_epochs under optimizer=LatentSGD) are left out by build().
        skip = getattr(self, "_skip_preset", ())
        preset = {k: v for k, v in self.scales[scale].items() if k not in skip}
        conf = {**preset, **conf}
        if conf.get("distribution") == "auto":
            conf["distribution"] = "default"
        if conf.get("precision") == "auto":
            conf["precision"], why = precision.choose_auto(fingerprint())
            print(f"note: precision=auto -> {conf['precision']}: {why}", file=sys.stderr)
        return conf

    def check(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size,
                    "flip_log_interval": self.flip_log_interval,
                    "steps_per_loop": self.steps_per_loop}
        for key, value in positive.items():
            if value < 1:
                raise ConfigError(f"{key} must be >= 1, got {value}")
        if self.train_subset < 0:
            raise ConfigError(f"train_subset must be >= 0 (0 = whole split), got {self.train_subset}")
        if self.validation not in VALIDATIONS:
            raise ConfigError(
                f"validation must be 'test' (the authors' choice) or 'holdout' (the last "
                f"`holdout` training images), got {self.validation!r}"
            )
        if self.holdout < 1:
            raise ConfigError(f"holdout must be >= 1, got {self.holdout}")
        if self.final_test and self.validation != "holdout":
            raise ConfigError(
                "final_test=True evaluates the test split once after training, for runs that "
                "validate on a holdout; with validation='test' every epoch already does: set "
                "validation=holdout or final_test=False")
        if self.distribution not in DISTRIBUTIONS:
            raise ConfigError(
                f"distribution must be one of {DISTRIBUTIONS} ('default' = auto: mirrored on "
                f"several GPUs, multi_worker under TF_CONFIG), got {self.distribution!r}")
        if self.checkpoint_every_steps < 0 or self.checkpoint_every_minutes < 0:
            raise ConfigError("checkpoint_every_steps and checkpoint_every_minutes must be >= 0 "
                              "(0 = only at epoch ends)")
        if self.divergence_factor < 0:
            raise ConfigError(
                f"divergence_factor must be >= 0 (0 = stop only on non-finite losses), got "
                f"{self.divergence_factor}")
        check_run_id(self.run_id)
        check_run_id(self.folder, "folder")
        precision.check(self.precision, self.force_precision, fingerprint)
        self.plan_data()  # subset, holdout and batch size against the split sizes

    def plan_data(self):
        """The run's splits and sizes, computed from the dataset's metadata alone (the
        prepared ``dataset_info.json`` if there is one, else the official sizes), so a
        subset or batch size that cannot work is refused before any preparation."""
        plan = self.dataset.plan(os.path.expanduser(self.data_dir), self.validation,
                                 self.train_subset or None, self.holdout)
        if plan.n_train // self.batch_size < 1:
            raise ConfigError(
                f"batch_size={self.batch_size} is larger than the {plan.n_train} training "
                f"images of split {plan.train_split!r}; lower batch_size or raise train_subset")
        return plan

    def run(self) -> dict:
        return (self.task or train)(self)

    def build_model(self):
        """The model, each binary kernel represented as the optimizer says (per layer)."""
        return self.model.build(input_shape=self.dataset.input_shape(),
                                num_classes=self.dataset.num_classes,
                                represent=self.optimizer.represent)

    # -- derived -------------------------------------------------------------
    def resolved_config(self) -> dict:
        """Every field as flat ``key: value`` pairs, in the CLI's dotted-key form."""
        return flatten(self)

    def semantic_config(self) -> dict:
        return semantic(self.resolved_config())

    def run_name(self) -> str:
        if self.run_id:
            return self.run_id
        return f"{self.scale}-seed{self.seed}-{config_hash(self.semantic_config())}"

    def run_dir(self) -> str:
        return os.path.join(self.results_dir, self.folder or self.name, self.run_name())


def flatten(instance, prefix: str = "") -> dict:
    """A component tree as ``{"optimizer": "Bop", "optimizer.gamma.value": 1e-4, ...}``."""
    out = {}
    for field_name, field in instance.__component_fields__.items():
        value = getattr(instance, field_name)
        key = prefix + field_name
        if is_component_instance(value):
            out[key] = type(value).__name__
            out.update(flatten(value, key + "."))
        else:
            out[key] = value
    return out


def validate(instance) -> None:
    """Type-check every field, refuse non-finite numbers, then run every component's
    ``check()`` (parts before the whole): all before any data is read."""
    _check_types(instance)
    check_finite(flatten(instance))
    _run_checks(instance)


def _check_types(instance, prefix: str = "") -> None:
    for field_name, field in instance.__component_fields__.items():
        try:
            value = getattr(instance, field_name)
        except TypeError as e:  # zookeeper's type check
            raise ConfigError(f"{prefix}{field_name}: {e}") from None
        if isinstance(field, _ComponentFieldType) and is_component_instance(value):
            _check_types(value, prefix + field_name + ".")


def _run_checks(instance) -> None:
    for field_name, field in instance.__component_fields__.items():
        value = getattr(instance, field_name)
        if isinstance(field, _ComponentFieldType) and is_component_instance(value):
            _run_checks(value)
    if hasattr(instance, "check"):  # parts first: the run's own checks may rely on them
        instance.check()


def check_finite(config: dict) -> None:
    """Every number of a config is finite: ``1e400`` parses as inf, which would train
    to nonsense (tau = inf: no flip ever) and cannot be written as JSON."""
    for key, value in config.items():
        values = value if isinstance(value, (tuple, list)) else (value,)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{key}={v!r} is not a finite number; give a finite value")


# -- the component tree: which keys and component names exist, before configuring --------
def _choices(field) -> list:
    """The selectable component classes of a component field's type (every discovered
    ``Optimizer``, ``Model``, ...; abstract bases left out)."""
    return [c for c in generate_component_subclasses(field.type)
            if not c.__dict__.get("abstract", False)]


def _named(field, value):
    """The component class ``value`` names for ``field`` (a class name, as zookeeper
    matches it: name, qualified name or snake_case), or None."""
    if is_component_class(value):
        return value
    if not isinstance(value, str):
        return None
    for cls in _choices(field):
        if value in (cls.__name__, cls.__qualname__) or \
                convert_to_snake_case(value) == convert_to_snake_case(cls.__name__):
            return cls
    return None


def key_problem(node, key: str, choices: dict, prefix: str = "", whole: str = "") -> str | None:
    """Why the dotted ``key`` names no field of the component tree under ``node``, whose
    component fields are chosen by ``choices`` (dotted key -> class name) or else their
    defaults; None if it names one. A value given for a component field must name a
    known component."""
    whole = whole or key
    head, _, rest = key.partition(".")
    fields = node.__component_fields__
    if head not in fields:
        where = f"{prefix.rstrip('.')} ({type(node).__name__})" if prefix else "the experiment"
        return (f"{whole}: {where} has no field {head!r}; its fields are "
                f"{', '.join(sorted(fields))}")
    field = fields[head]
    full = prefix + head
    if not isinstance(field, _ComponentFieldType):
        return f"{whole}: {full} is a value, not a component" if rest else None
    chosen = choices.get(full)
    if isinstance(chosen, str) and _named(field, chosen) is None:
        return (f"{full}={chosen!r} is not a known component; choose one of "
                f"{', '.join(sorted({c.__name__ for c in _choices(field)}))}")
    if not rest:
        return None
    if _named(field, chosen) is not None:
        child = _named(field, chosen)()
    else:
        try:
            child = getattr(node, head)  # the default component (unconfigured)
        except Exception:  # noqa: BLE001 -- no default: zookeeper says what is missing
            return None
    return key_problem(child, rest, choices, full + ".", whole)


def _preset_keys(cls, scale: str, overrides: dict) -> set:
    """The keys of ``cls``'s ``scale`` preset that do not apply to the components chosen
    in ``overrides`` (e.g. sec52_bop's ``optimizer.gamma.every_epochs`` under
    ``optimizer=LatentSGD``): they are left out. Checked against the component tree
    itself: a preset key must name a field of the experiment's own components (else the
    declaration is wrong), and every key the user gives must name one of the chosen
    components' fields (a key typed by the user is never dropped)."""
    preset = cls.scales[scale]
    root = cls()
    chosen = {**preset, **overrides}
    for key in overrides:
        problem = key_problem(root, key, chosen)
        if problem:
            raise ConfigError(f"{cls.name}: {problem}\nValid keys: `bnn show {cls.name}`")
    skipped = set()
    for key in preset:
        if key in overrides:
            continue
        problem = key_problem(root, key, preset)
        if problem:
            raise ConfigError(f"{cls.name}: its {scale!r} preset sets {key}, which does not "
                              f"apply to its own components ({problem})")
        if key_problem(root, key, chosen):
            skipped.add(key)
    return skipped


def _refuse_renamed(overrides: dict) -> None:
    renamed = component_rules()[2]
    for key in overrides:
        if key in renamed:
            raise ConfigError(f"{key}= is now {renamed[key]}= (the dataset's own field); give "
                              f"{renamed[key]}={overrides[key]}")


def build(cls, overrides: dict | None = None) -> Experiment:
    """Instantiate, configure and validate an experiment class; raise ``ConfigError``."""
    overrides = dict(overrides or {})
    _refuse_renamed(overrides)
    flatten_lookups(cls)
    instance = cls()
    scale = overrides.get("scale", instance.__component_fields__["scale"].get_default(instance))
    if scale not in cls.scales:
        raise ConfigError(f"scale={scale!r} is not defined for {cls.name}; choose one of "
                          f"{sorted(cls.scales)}")
    skipped = _preset_keys(cls, scale, overrides)
    instance._skip_preset = skipped
    try:
        configure(instance, dict(overrides), name=cls.name)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{cls.name}: {str(e).split(chr(10) * 2)[0]}\nValid keys: "
                          f"`bnn show {cls.name}`") from None
    if skipped:
        print(f"note: {cls.name}: scale preset setting(s) {', '.join(sorted(skipped))} do not "
              "apply to the components chosen on the command line; left out", file=sys.stderr)
    validate(instance)
    return instance
