"""Training state on disk: fingerprints, atomic directory writes, finding the newest resumable state,
RNG states, and the OpenAI-style result CSV."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from .spec import TrainSpec

STATE_FILE = "trainer_state.pt"
COMPLETE = "COMPLETE"
RESULT_CSV_HEADER = "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"


def fingerprint(spec: TrainSpec, n_epochs: int, batch_size: int, lr_mult: float) -> str:
    """What a saved state must match to be resumed: base model, method, data, hyperparameters."""

    def file_id(path):
        if path is None:
            return None
        p = Path(path)
        return hashlib.sha256(p.read_bytes()).hexdigest()

    blob = json.dumps(
        {
            "base": spec.base_model,
            "method": spec.method,
            "train": file_id(spec.training_path),
            "valid": file_id(spec.validation_path),
            "epochs": n_epochs,
            "batch": batch_size,
            "lr": lr_mult,
            "seed": spec.seed,
            "beta": spec.dpo_beta,
            "len": spec.max_seq_len,
            "rank": spec.lora_rank,
            "alpha": spec.lora_alpha,
            "dropout": spec.lora_dropout,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Write a directory under a temporary name, mark it complete, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    write(tmp)
    (tmp / COMPLETE).write_text("ok\n")
    if target.exists():
        old = target.parent / f".old-{target.name}-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def find_resume_state(output_dir: Path) -> Path | None:
    """The newest complete state under ``checkpoints/`` or ``resume/``, or None."""
    best: tuple[int, Path] | None = None
    for sub in ("checkpoints", "resume"):
        for d in (output_dir / sub).glob("step-*"):
            if not (d / COMPLETE).is_file() or not (d / STATE_FILE).is_file():
                continue
            try:
                step = int(d.name.split("-", 1)[1])
            except ValueError:
                continue
            if best is None or step > best[0]:
                best = (step, d)
    return best[1] if best else None


def result_csv(rows: list[dict]) -> str:
    def fmt(x):
        return "" if x is None else f"{x:.6f}"

    lines = [RESULT_CSV_HEADER]
    for r in rows:
        lines.append(
            f"{r['step']},{fmt(r['train_loss'])},{fmt(r['train_mean_token_accuracy'])},"
            f"{fmt(r['valid_loss'])},{fmt(r['valid_mean_token_accuracy'])}"
        )
    return "\n".join(lines) + "\n"
