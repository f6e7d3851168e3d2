"""The model registry: which model is live (``CURRENT``), the versions' history and the one way to
promote or roll back (recorded and audited), and the one cache of loaded models in a process."""

from threatwatch.registry.live import LiveModel, live_classifier, live_model, load_classifier
from threatwatch.registry.pointer import (
    CURRENT_FILE,
    ModelNotFoundError,
    current_model_path,
    current_name,
    load_model,
)
from threatwatch.registry.versions import RegistryError, history, promote, rollback

__all__ = [
    "CURRENT_FILE",
    "LiveModel",
    "ModelNotFoundError",
    "RegistryError",
    "current_model_path",
    "current_name",
    "history",
    "live_classifier",
    "live_model",
    "load_classifier",
    "load_model",
    "promote",
    "rollback",
]
