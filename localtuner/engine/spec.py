"""What ``train()`` takes and reports: the run's specification, per-step metrics, checkpoints, result."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

METHODS = ("supervised", "dpo")


@dataclass
class TrainSpec:
    base_model: str
    method: str  # "supervised" | "dpo"
    training_path: Path
    validation_path: Path | None
    output_dir: Path  # checkpoints/, resume/ and adapter/ go here
    cache_dir: Path  # base model cache (see basemodels)
    n_epochs: int | None = None  # None -> auto (OpenAI-like rule, capped for CPU)
    batch_size: int | None = None  # examples (or preference pairs) per step; None -> auto
    learning_rate_multiplier: float | None = None  # None -> 1.0; LR = 2e-4 * multiplier
    seed: int = 42
    dpo_beta: float = 0.1
    eval_every: int = 10  # steps between validation evals (also at step 1 and the last step)
    max_seq_len: int = 512
    # Engine knobs (defaults are what the local provider uses).
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    save_every_steps: int = 25  # cheap resumable state every K steps ...
    save_every_s: float = 30.0  # ... or every ~30 s, whichever comes first
    max_eval_examples: int = 256  # validation subset (first N examples) used for valid_loss
    device: str | None = None  # None -> pick_device()
    torch_threads: int | None = None  # CPU threads; None -> the cores this process may use
    precision: str | None = None  # "fp32" | "bf16" | "fp16" (CUDA); None/"auto" -> precision.pick_precision
    fused_forward: bool = True  # fasttrain.py's lean forward where the model allows it; False: peft's


@dataclass
class Metrics:
    step: int  # 1-based
    total_steps: int
    epoch: int  # 1-based epoch the step belongs to
    train_loss: float
    train_mean_token_accuracy: float  # DPO: reward accuracy (chosen reward > rejected reward)
    valid_loss: float | None  # None unless evaluated at this step
    valid_mean_token_accuracy: float | None
    tokens_seen: int  # real (non-padding) tokens processed so far
    elapsed_s: float
    # Measured speed: tokens per second of the training steps run by this process so far
    # (forward, backward and optimizer; evaluations and saves excluded). None before the first.
    tokens_per_s: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Checkpoint:
    step: int
    epoch: int
    path: Path  # a directory with the peft adapter (adapter_config.json, adapter_model.safetensors)
    metrics: Metrics


@dataclass
class TrainResult:
    status: str  # "succeeded" | "cancelled"
    trained_tokens: int
    steps: int  # last completed step
    metrics: Metrics | None  # metrics of the last completed step
    adapter_path: Path | None  # output_dir/adapter (None when cancelled)
    result_csv: str  # OpenAI result-file columns, one row per completed step
    n_epochs: int = 0  # resolved hyperparameters ("auto" made concrete)
    batch_size: int = 0
    learning_rate_multiplier: float = 1.0
    total_steps: int = 0
    resumed_from_step: int = 0
