"""Local training and inference engine (pure Python, no Django).

Public interface: see README.md next to this file.
"""

from . import _env  # noqa: F401  (sets HF_HUB_OFFLINE before transformers loads)
from .basemodels import BASE_MODELS, UnknownModel, list_base_models, load_base, pick_device
from .data import DataError
from .inference import Generation, ModelCache, StreamEnd, generate, generate_stream
from .trainer import Checkpoint, Metrics, TrainResult, TrainSpec, train

__all__ = [
    "BASE_MODELS",
    "UnknownModel",
    "list_base_models",
    "load_base",
    "pick_device",
    "DataError",
    "Checkpoint",
    "Metrics",
    "TrainResult",
    "TrainSpec",
    "train",
    "Generation",
    "ModelCache",
    "StreamEnd",
    "generate",
    "generate_stream",
]
