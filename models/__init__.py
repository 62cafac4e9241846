"""Paper models, registered by name (see ``models.registry``)."""
from experiments import _keras2  # noqa: F401  (side effect: selects Keras 2)
