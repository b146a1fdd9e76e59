"""Process-wide settings that must be in place before transformers is imported.

The engine never touches the network: the Hugging Face hub is switched off for
this process before any transformers/peft import.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
