"""LoRA fine-tuning (supervised or DPO) of a local base model, resumable and cancellable.

See README.md for the design. The public entry point is ``train(spec, ...)``; one call is one
``TrainingRun`` (the model, data and optimizer it set up, and its progress).
"""

from __future__ import annotations

import random
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch

from .attention import use_packed_attention
from .basemodels import load_base, pick_device, set_torch_threads
from .checkpoints import (
    STATE_FILE,
    find_resume_state,
    fingerprint,
    result_csv,
    rng_state,
    set_rng_state,
    write_atomically,
)
from .data import DataError, Example, PackedBatch, load_preference, load_supervised, pack_one_row
from .fasttrain import LoraTrainForward
from .fasttrain import supports as fast_supported

if TYPE_CHECKING:
    from .data import PreferencePair
from .hyper import BASE_LEARNING_RATE, LORA_TARGETS, lr_lambda, plan, warmup_steps
from .losses import dpo_stats, token_stats
from .precision import DTYPES, autocast, needs_grad_scaler, pick_precision
from .spec import METHODS, Checkpoint, Metrics, TrainResult, TrainSpec

EventFn = Callable[[str, str], None]
PRECISION_WORDS = {
    "fp32": "float32",
    "bf16": "bfloat16 matrix products, float32 weights",
    "fp16": "float16 matrix products with loss scaling, float32 weights",
}


def train(
    spec: TrainSpec,
    *,
    on_metrics: Callable[[Metrics], None],
    on_checkpoint: Callable[[Checkpoint], None],
    should_cancel: Callable[[], bool],
    on_event: EventFn | None = None,
) -> TrainResult:
    """Fine-tune ``spec.base_model`` with LoRA; see the module and README for the contract.

    Raises ``DataError`` for malformed files, ``UnknownModel`` for an unknown base model,
    ``ValueError`` for an unknown method.
    """
    if spec.method not in METHODS:
        raise ValueError(f"unknown method {spec.method!r}; local training supports {', '.join(METHODS)}")
    devices = ["cuda"] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):  # leave the caller's RNG alone
        run = TrainingRun(spec, on_event or (lambda level, msg: None))
        return run.run(on_metrics=on_metrics, on_checkpoint=on_checkpoint, should_cancel=should_cancel)


class TrainingRun:
    """One call of ``train()``. Set-up happens in ``__init__`` (in this order, which the seeded
    LoRA init depends on): device, base model, data, hyperparameters, LoRA + optimizer, resume."""

    def __init__(self, spec: TrainSpec, event: EventFn):
        self.spec = spec
        self.event = event
        self.t_start = time.monotonic()
        self.device = spec.device or pick_device()
        set_torch_threads(self.device, spec.torch_threads)
        if self.device.startswith("cuda"):
            torch.backends.cuda.matmul.allow_tf32 = True
        self.precision = pick_precision(self.device, spec.precision)
        self.scaler = torch.amp.GradScaler("cuda") if needs_grad_scaler(self.precision) else None
        self.output_dir = Path(spec.output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.dpo = spec.method == "dpo"

        t0 = time.monotonic()
        model, tokenizer = load_base(spec.base_model, cache_dir=Path(spec.cache_dir), device="cpu")
        event("info", f"Loaded base model {spec.base_model} in {time.monotonic() - t0:.1f} s")
        self.pad_id = tokenizer.pad_token_id
        use_packed_attention(model)  # this copy of the base model is only ever fed packed rows

        self._load_data(tokenizer)
        self._resolve_hyperparameters()
        self._set_up_lora(model)

        self.fingerprint = fingerprint(spec, self.n_epochs, self.batch_size, self.lr_mult)
        self.step = 0
        self.tokens_seen = 0
        self.elapsed_before = 0.0
        self.rows: list[dict] = []
        self.resumed_from = 0
        self.step_seconds = 0.0  # time in training steps of this process (the measured speed)
        self.step_tokens = 0
        self._resume()

    # ------------------------------------------------------------------ set-up

    def _load_data(self, tokenizer) -> None:
        spec = self.spec
        loader = load_preference if self.dpo else load_supervised
        self.train_items = loader(Path(spec.training_path), tokenizer, spec.max_seq_len)
        self.valid_items: list = []
        if spec.validation_path:
            try:
                self.valid_items = loader(Path(spec.validation_path), tokenizer, spec.max_seq_len)[
                    : spec.max_eval_examples
                ]
            except DataError as exc:
                raise DataError(exc.line_no, f"validation file: {exc.message}") from exc

    def _resolve_hyperparameters(self) -> None:
        spec, n = self.spec, len(self.train_items)
        # The launch form shows this same plan before the launch: one rule, so they cannot drift.
        chosen = plan(
            n,
            self.device,
            n_epochs=spec.n_epochs,
            batch_size=spec.batch_size,
            learning_rate_multiplier=spec.learning_rate_multiplier,
        )
        self.n_epochs, self.batch_size, self.lr_mult = (
            chosen.n_epochs,
            chosen.batch_size,
            chosen.learning_rate_multiplier,
        )
        self.steps_per_epoch, self.total_steps = chosen.steps_per_epoch, chosen.total_steps
        if self.dpo:
            pairs = cast("list[PreferencePair]", self.train_items)
            n_tokens = sum(len(p.chosen) + len(p.rejected) for p in pairs)
        else:
            n_tokens = sum(len(e) for e in cast("list[Example]", self.train_items))
        self.event(
            "info",
            f"Training {spec.method} on {n} examples ({n_tokens} tokens), {len(self.valid_items)} validation "
            f"examples: {self.n_epochs} epochs, batch size {self.batch_size}, learning rate "
            f"{BASE_LEARNING_RATE * self.lr_mult:.2e}, {self.total_steps} steps on {self.device} "
            f"({PRECISION_WORDS[self.precision]})",
        )

    def _set_up_lora(self, model) -> None:
        from peft import LoraConfig, get_peft_model

        spec = self.spec
        torch.manual_seed(spec.seed)
        random.seed(spec.seed)
        lora = LoraConfig(
            r=spec.lora_rank,
            lora_alpha=spec.lora_alpha,
            lora_dropout=spec.lora_dropout,
            target_modules=LORA_TARGETS,
            bias="none",
            task_type="CAUSAL_LM",
        )
        with warnings.catch_warnings():  # peft calls a transformers API deprecated in 5.x
            warnings.simplefilter("ignore", FutureWarning)
            model = get_peft_model(model, lora)
        model.to(self.device)
        self.model = model
        # The lean forward (fasttrain.py) where the model allows it; peft's own forward otherwise.
        # spec.fused_forward=False keeps peft's (the bench and tests compare the two).
        self.fast = (
            LoraTrainForward(model, DTYPES[self.precision])
            if spec.fused_forward and fast_supported(model)
            else None
        )
        self.trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            [p for _, p in self.trainable], lr=BASE_LEARNING_RATE * self.lr_mult, weight_decay=0.0
        )
        warmup = warmup_steps(self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(self.total_steps, warmup)
        )

    def _resume(self) -> None:
        state_dir = find_resume_state(self.output_dir)
        if state_dir is None:
            return
        state = torch.load(state_dir / STATE_FILE, map_location="cpu", weights_only=False)
        if state.get("fingerprint") != self.fingerprint:
            self.event(
                "warning", f"Ignoring saved state {state_dir.name}: it belongs to different data or settings"
            )
            return
        params = dict(self.trainable)
        with torch.no_grad():
            for name, value in state["trainable"].items():
                params[name].copy_(value.to(self.device))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        self.step = state["step"]
        self.tokens_seen = state["tokens_seen"]
        self.elapsed_before = state["elapsed_s"]
        self.rows = state["rows"]
        self.resumed_from = self.step
        self.event("info", f"Resumed from step {self.step} ({state_dir.parent.name}/{state_dir.name})")

    # ------------------------------------------------------------------ pieces of a step

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.t_start

    def epoch_order(self, epoch_index: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.spec.seed * 1_000_003 + epoch_index)
        return torch.randperm(len(self.train_items), generator=g)

    def batch_of(self, items) -> PackedBatch:
        if self.dpo:
            examples: list[Example] = [e for p in items for e in (p.chosen, p.rejected)]
        else:
            examples = list(items)
        return pack_one_row(examples, self.pad_id).to(self.device)

    def stats(self, batch: PackedBatch):
        if self.fast is not None:  # computes in self.precision itself; no autocast needed
            if self.dpo:
                return dpo_stats(self.model, batch, self.spec.dpo_beta, self.fast)
            return token_stats(self.model, batch, self.fast)
        with autocast(self.device, self.precision):  # matrix products only; losses stay float32
            if self.dpo:
                return dpo_stats(self.model, batch, self.spec.dpo_beta)
            return token_stats(self.model, batch)

    def evaluate(self) -> tuple[float, float] | tuple[None, None]:
        if not self.valid_items:
            return None, None
        self.model.eval()
        loss_sum, correct, count = 0.0, 0, 0
        chunk = max(1, min(16, self.batch_size * 2))
        with torch.no_grad():
            for i in range(0, len(self.valid_items), chunk):
                loss_part, c, k = self.stats(self.batch_of(self.valid_items[i : i + chunk]))
                loss_sum, correct, count = loss_sum + float(loss_part), correct + int(c), count + k
        self.model.train()
        return (loss_sum / count, correct / count) if count else (None, None)

    def save_state(self, target: Path, with_adapter: bool) -> None:
        step, per_epoch = self.step, self.steps_per_epoch

        def write(tmp: Path) -> None:
            if with_adapter:
                self.model.save_pretrained(str(tmp))
            torch.save(
                {
                    "fingerprint": self.fingerprint,
                    "step": step,
                    "epoch": (step - 1) // per_epoch + 1 if step else 0,
                    "data_order": self.epoch_order((step - 1) // per_epoch if step else 0).tolist(),
                    "tokens_seen": self.tokens_seen,
                    "elapsed_s": self.elapsed(),
                    "rows": self.rows,
                    "trainable": {name: p.detach().cpu().clone() for name, p in self.trainable},
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "rng": rng_state(),
                },
                tmp / STATE_FILE,
            )

        write_atomically(target, write)

    def train_step(self, ids: list[int], epoch_index: int) -> Metrics:
        """One optimizer step on the training examples ``ids``; returns its metrics."""
        t0 = time.perf_counter()
        batch = self.batch_of([self.train_items[i] for i in ids])
        loss_sum, correct, count = self.stats(batch)
        self.optimizer.zero_grad(set_to_none=True)
        params = [p for _, p in self.trainable]
        if count and self.scaler is not None:  # fp16 on CUDA: scaled loss, unscaled before clipping
            self.scaler.scale(loss_sum / count).backward()
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        elif count:
            (loss_sum / count).backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            self.optimizer.step()
        self.scheduler.step()
        train_loss = float(loss_sum.detach()) / count if count else 0.0  # waits for the device
        self.step_seconds += time.perf_counter() - t0
        self.step_tokens += batch.n_tokens
        self.step += 1
        self.tokens_seen += batch.n_tokens
        valid_loss = valid_acc = None
        step, every = self.step, max(1, self.spec.eval_every)
        if self.valid_items and (step == 1 or step % every == 0 or step == self.total_steps):
            valid_loss, valid_acc = self.evaluate()
        return Metrics(
            step=step,
            total_steps=self.total_steps,
            epoch=epoch_index + 1,
            train_loss=train_loss,
            train_mean_token_accuracy=int(correct) / count if count else 0.0,
            valid_loss=valid_loss,
            valid_mean_token_accuracy=valid_acc,
            tokens_seen=self.tokens_seen,
            elapsed_s=round(self.elapsed(), 3),
            tokens_per_s=round(self.tokens_per_s(), 1),
        )

    def tokens_per_s(self) -> float:
        """Trained tokens per second of training step (evaluations and saves not counted)."""
        return self.step_tokens / self.step_seconds if self.step_seconds > 0 else 0.0

    def save_after_step(self, metrics: Metrics, on_checkpoint: Callable[[Checkpoint], None]) -> bool:
        """A checkpoint at the end of an epoch, else a cheap resumable state when one is due.
        Returns whether something was saved."""
        step = self.step
        if step % self.steps_per_epoch == 0:
            path = self.output_dir / "checkpoints" / f"step-{step}"
            self.save_state(path, with_adapter=True)
            self.event("info", f"Checkpoint saved at step {step} (epoch {metrics.epoch}/{self.n_epochs})")
            on_checkpoint(Checkpoint(step=step, epoch=metrics.epoch, path=path, metrics=metrics))
            return True
        due = step % max(1, self.spec.save_every_steps) == 0
        if due or time.monotonic() - self.last_save >= self.spec.save_every_s:
            self.save_state(self.output_dir / "resume" / f"step-{step}", with_adapter=False)
            for old in (self.output_dir / "resume").glob("step-*"):
                if old.name != f"step-{step}":
                    shutil.rmtree(old, ignore_errors=True)
            return True
        return False

    # ------------------------------------------------------------------ the loop

    def run(
        self,
        *,
        on_metrics: Callable[[Metrics], None],
        on_checkpoint: Callable[[Checkpoint], None],
        should_cancel: Callable[[], bool],
    ) -> TrainResult:
        last_metrics: Metrics | None = None
        self.last_save = time.monotonic()
        self.model.train()
        status = "succeeded"
        current_epoch = -1
        while self.step < self.total_steps:
            epoch_index, in_epoch = divmod(self.step, self.steps_per_epoch)
            if epoch_index != current_epoch:
                current_epoch = epoch_index
                order = self.epoch_order(epoch_index)
                if in_epoch == 0:
                    self.event("info", f"Epoch {epoch_index + 1}/{self.n_epochs}")
            if should_cancel():
                status = "cancelled"
                self.event("info", f"Cancelled after step {self.step}")
                break
            ids = order[in_epoch * self.batch_size : (in_epoch + 1) * self.batch_size].tolist()
            last_metrics = self.train_step(ids, epoch_index)
            self.rows.append(asdict(last_metrics))
            on_metrics(last_metrics)
            if self.save_after_step(last_metrics, on_checkpoint):
                self.last_save = time.monotonic()
        return self._result(status, last_metrics)

    def _result(self, status: str, last_metrics: Metrics | None) -> TrainResult:
        adapter_path = None
        if status == "succeeded":
            adapter_path = self.output_dir / "adapter"
            write_atomically(adapter_path, lambda tmp: self.model.save_pretrained(str(tmp)))
            shutil.rmtree(self.output_dir / "resume", ignore_errors=True)
            self.event(
                "info",
                f"Training finished: {self.step} steps, {self.tokens_seen} tokens in {self.elapsed():.1f} s "
                f"({self.tokens_per_s():.0f} tokens/s in training steps, {PRECISION_WORDS[self.precision]})",
            )
        if last_metrics is None and self.rows:
            last_metrics = Metrics(**self.rows[-1])
        return TrainResult(
            status=status,
            trained_tokens=self.tokens_seen,
            steps=self.step,
            metrics=last_metrics,
            adapter_path=adapter_path,
            result_csv=result_csv(self.rows),
            n_epochs=self.n_epochs,
            batch_size=self.batch_size,
            learning_rate_multiplier=self.lr_mult,
            total_steps=self.total_steps,
            resumed_from_step=self.resumed_from,
        )
