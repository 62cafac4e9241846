"""The CIFAR-10 experiment component: every field of a run, validated before any work.

A paper experiment (``configs/``) is a subclass that changes only the defaults that
differ. Values resolve in this order: class defaults < the chosen ``scale`` preset <
``key=value`` overrides from the command line. Unknown keys and wrong types are
rejected by zookeeper; invalid values by :func:`validate`; both before data is loaded.
"""
import os

from experiments import _keras2  # noqa: F401
from zookeeper import ComponentField, Field, component, configure
from zookeeper.core.field import ComponentField as _ComponentFieldType
from zookeeper.core.utils import is_component_instance

from experiments.errors import ConfigError
from experiments.runs import NON_SEMANTIC
from experiments.optimizers import Bop, Optimizer
from models.base import Model
from models.binarynet import BinaryNet

DISTRIBUTIONS = ("default", "mirrored", "multi_worker")
VALIDATIONS = ("test", "holdout")


@component
class Cifar10Experiment:
    """Train a model on CIFAR-10 (paper §5) and write a run directory (``experiments.runs``).

    Class attributes of subclasses (not config fields): ``name`` (the CLI name and run
    folder), ``section`` (paper section), ``scales`` (preset overrides per scale).
    """

    name = "cifar10"
    section = ""
    scales = {"paper": {}}

    scale: str = Field("paper")
    epochs: int = Field(100)
    batch_size: int = Field(100)
    seed: int = Field(0)
    validation: str = Field("test")
    holdout: int = Field(5000)
    train_subset: int = Field(0)
    data_dir: str = Field(os.path.join("~", "tensorflow_datasets"))
    cifar10_archive: str = Field("")
    model: Model = ComponentField(BinaryNet)
    optimizer: Optimizer = ComponentField(Bop)
    flip_log_interval: int = Field(10)
    steps_per_loop: int = Field(1)
    distribution: str = Field("default")
    deterministic: bool = Field(False)
    results_dir: str = Field(os.path.join("results", "runs"))
    run_id: str = Field("")
    tensorboard: bool = Field(True)
    progress: bool = Field(True)

    def __pre_configure__(self, conf):
        # Without scale= on the command line, the class's own default scale applies (§3
        # experiments default to "quick"); its preset must follow it, not "paper".
        scale = conf.get("scale", self.__component_fields__["scale"].get_default(self))
        if scale not in self.scales:
            raise ConfigError(
                f"scale={scale!r} is not defined for {self.name}; choose one of "
                f"{sorted(self.scales)}"
            )
        return {**self.scales[scale], **conf}

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
        if not 0 < self.holdout < 50000:
            raise ConfigError(f"holdout must be in [1, 49999], got {self.holdout}")
        if self.distribution not in DISTRIBUTIONS:
            raise ConfigError(f"distribution must be one of {DISTRIBUTIONS}, got {self.distribution!r}")
        if self.cifar10_archive and not os.path.isfile(os.path.expanduser(self.cifar10_archive)):
            raise ConfigError(
                f"cifar10_archive={self.cifar10_archive!r} does not exist; give the path of "
                "cifar-10-binary.tar.gz, or leave it empty to let TFDS download CIFAR-10"
            )

    def run(self) -> dict:
        from experiments.train import train

        return train(self)

    # -- derived -------------------------------------------------------------
    def resolved_config(self) -> dict:
        """Every field as flat ``key: value`` pairs, in the CLI's dotted-key form."""
        return flatten(self)

    def semantic_config(self) -> dict:
        return {k: v for k, v in self.resolved_config().items() if k not in NON_SEMANTIC}

    def run_name(self) -> str:
        from experiments.runs import config_hash

        if self.run_id:
            return self.run_id
        return f"{self.scale}-seed{self.seed}-{config_hash(self.semantic_config())}"

    def run_dir(self) -> str:
        return os.path.join(self.results_dir, self.name, self.run_name())


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


def validate(instance, prefix: str = "") -> None:
    """Type-check every field and run every component's ``check()``, top-down."""
    for field_name, field in instance.__component_fields__.items():
        try:
            value = getattr(instance, field_name)
        except TypeError as e:  # zookeeper's type check
            raise ConfigError(f"{prefix}{field_name}: {e}") from None
        if isinstance(field, _ComponentFieldType) and is_component_instance(value):
            validate(value, prefix + field_name + ".")
    if hasattr(instance, "check"):
        instance.check()


def build(cls, overrides: dict | None = None) -> Cifar10Experiment:
    """Instantiate, configure and validate an experiment class; raise ``ConfigError``."""
    instance = cls()
    try:
        configure(instance, dict(overrides or {}), name=cls.name)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        message = str(e).split("\n\n")[0]
        raise ConfigError(
            f"{cls.name}: {message}\nValid keys: `python -m experiments show {cls.name}`"
        ) from None
    validate(instance)
    return instance
