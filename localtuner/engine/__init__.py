"""Local training and inference engine (pure Python, no Django).

Public interface: see README.md next to this file.
"""

import os

# The engine never touches the network: the Hugging Face hub is switched off for this process
# before any transformers/peft import (every engine module is imported after this package).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .basemodels import BASE_MODELS, UnknownModel, list_base_models, load_base, pick_device  # noqa: E402
from .data import DataError  # noqa: E402
from .inference import Generation, ModelCache, StreamEnd, generate, generate_stream  # noqa: E402
from .spec import Checkpoint, Metrics, TrainResult, TrainSpec  # noqa: E402
from .trainer import train  # noqa: E402

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
