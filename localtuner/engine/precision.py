"""Which floating-point precision the trainer computes in, picked from what the hardware does fast.

The weights stay float32 (the adapter is saved in float32 and the base model on disk is float32);
only the matrix products run in lower precision, under ``torch.autocast``. Losses, softmax and
the optimizer stay float32 (autocast's own policy; ``losses.py`` casts the logits to float32).

* CPU: bfloat16 when the CPU multiplies bf16 matrices natively (the ``avx512_bf16`` or
  ``amx_bf16`` flag in ``/proc/cpuinfo``; measured here: ~2-7x the float32 matmul throughput),
  else float32: without those instructions bf16 is emulated and slower than float32.
* CUDA: bfloat16 when the GPU supports it (Ampere and later), else float16 with a gradient
  scaler (``needs_grad_scaler``).

``TrainSpec.precision`` overrides the choice ("fp32", "bf16", "fp16"; None or "auto": this rule).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
FAST_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The feature flags of the first CPU in ``cpuinfo`` (empty where there is no such file)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / arm
            return frozenset(value.split())
    return frozenset()


def pick_precision(
    device: str,
    requested: str | None = None,
    *,
    flags: Iterable[str] | None = None,
    cuda_bf16: bool | None = None,
) -> str:
    """ "fp32", "bf16" or "fp16" for training on ``device``.

    ``requested`` ("fp32", "bf16", "fp16"; None or "auto": pick) wins when given, except that
    fp16 is CUDA-only (on CPU it falls back to the automatic choice). ``flags`` (the CPU's
    feature flags) and ``cuda_bf16`` (whether the GPU does bf16) default to what this machine
    reports; tests inject them.
    """
    if requested not in (None, *PRECISIONS):
        raise ValueError(f"unknown precision {requested!r}; use one of {', '.join(PRECISIONS)}")
    is_cuda = device.startswith("cuda")
    if requested in ("fp32", "bf16") or (requested == "fp16" and is_cuda):
        return requested
    if is_cuda:
        if cuda_bf16 is None:
            cuda_bf16 = torch.cuda.is_bf16_supported()
        return "bf16" if cuda_bf16 else "fp16"
    have = frozenset(cpu_flags() if flags is None else flags)
    return "bf16" if have & FAST_BF16_CPU_FLAGS else "fp32"


def autocast(device: str, precision: str):
    """The autocast context for ``precision`` on ``device`` (a no-op context for fp32)."""
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    return torch.autocast(device_type, dtype=DTYPES[precision], enabled=precision != "fp32")


def needs_grad_scaler(precision: str) -> bool:
    """fp16 gradients underflow without loss scaling; bf16 has float32's range and needs none."""
    return precision == "fp16"
