"""Hyperparameters "auto" made concrete, and the learning-rate schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass

BASE_LEARNING_RATE = 2e-4  # LoRA; multiplied by learning_rate_multiplier
MAX_AUTO_EPOCHS_CPU = 8  # OpenAI's "auto" may go up to 25; capped for CPU
MAX_AUTO_EPOCHS_GPU = 25
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def auto_epochs(n_examples: int, device: str) -> int:
    """OpenAI's rule (3 epochs, more for tiny sets so ~100 examples are seen), capped for CPU."""
    epochs = 3
    if n_examples * epochs < 100:
        epochs = math.ceil(100 / max(1, n_examples))
    elif n_examples * epochs > 25_000:
        epochs = max(1, 25_000 // n_examples)
    return min(epochs, MAX_AUTO_EPOCHS_GPU if device.startswith("cuda") else MAX_AUTO_EPOCHS_CPU)


def auto_batch_size(n_examples: int) -> int:
    """About n/32 examples per step, between 1 and 8."""
    return max(1, min(8, math.ceil(n_examples / 32)))


def warmup_steps(total_steps: int) -> int:
    return max(1, min(10, round(0.05 * total_steps)))


def lr_lambda(total_steps: int, warmup: int):
    """Linear warm-up over ``warmup`` steps, then linear decay to 10% of the base rate."""

    def f(step: int) -> float:  # step = number of optimizer steps already taken
        if step < warmup:
            return (step + 1) / warmup
        remaining = max(1, total_steps - warmup)
        return max(0.1, 1.0 - 0.9 * (step - warmup) / remaining)

    return f


@dataclass(frozen=True)
class Plan:
    """What a run will do: the concrete settings and its steps (one optimizer step per batch)."""

    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    steps_per_epoch: int
    total_steps: int


def plan(
    n_examples: int,
    device: str,
    *,
    n_epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate_multiplier: float | None = None,
) -> Plan:
    """The local provider's rule for "auto" (None), as the trainer applies it: the launch form
    shows this before a launch, and the run then trains exactly these epochs and steps."""
    n = max(1, n_examples)
    epochs = n_epochs or auto_epochs(n, device)
    batch = min(batch_size or auto_batch_size(n), n)
    per_epoch = math.ceil(n / batch)
    return Plan(epochs, batch, learning_rate_multiplier or 1.0, per_epoch, per_epoch * epochs)
