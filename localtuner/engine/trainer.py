"""LoRA fine-tuning (supervised or DPO) of a local base model, resumable and cancellable.

See README.md for the design. The public entry point is ``train(spec, ...)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import _env  # noqa: F401
from .attention import segments_from_positions, use_packed_attention
from .basemodels import load_base, pick_device
from .data import IGNORE, DataError, Example, PackedBatch, load_preference, load_supervised, pack_one_row

METHODS = ("supervised", "dpo")
BASE_LEARNING_RATE = 2e-4  # LoRA; multiplied by learning_rate_multiplier
MAX_AUTO_EPOCHS_CPU = 8  # OpenAI's "auto" may go up to 25; capped for CPU
MAX_AUTO_EPOCHS_GPU = 25
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
STATE_FILE = "trainer_state.pt"
COMPLETE = "COMPLETE"
RESULT_CSV_HEADER = "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"


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


# --------------------------------------------------------------------------- hyperparameters


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


# --------------------------------------------------------------------------- model pieces


def _decoder_and_head(model):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.model if hasattr(base, "model") else base.get_decoder()
    return decoder, base.get_output_embeddings()


def _hidden(model, batch: PackedBatch) -> torch.Tensor:
    decoder, _ = _decoder_and_head(model)
    # Models switched to attention.NAME (the trainer's) attend within each example's slice,
    # cut where position_ids restart. Other models get attention_mask=None + restarting
    # position_ids, which transformers turns into a block-diagonal causal mask
    # (masking_utils.find_packed_sequence_indices; use_cache=False matters: with a cache
    # that detection is skipped). Both give the same numbers; the first is faster.
    return decoder(
        input_ids=batch.input_ids,
        position_ids=batch.position_ids,
        use_cache=False,
        packed_segments=segments_from_positions(batch.position_ids),
    ).last_hidden_state


def token_stats(model, batch: PackedBatch) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(sum of token cross-entropy, number of correct argmax predictions, number of targets).

    The LM head only runs on positions that have a target (a large saving: the
    vocabulary is 49k wide and most tokens are prompt).
    """
    _, head = _decoder_and_head(model)
    hidden = _hidden(model, batch)
    mask = batch.targets != IGNORE
    n = int(mask.sum())
    if n == 0:
        zero = hidden.sum() * 0.0
        return zero, torch.zeros((), dtype=torch.long), 0
    logits = head(hidden[mask]).float()
    targets = batch.targets[mask]
    loss_sum = F.cross_entropy(logits, targets, reduction="sum")
    correct = (logits.detach().argmax(-1) == targets).sum()
    return loss_sum, correct, n


def sequence_logps(model, batch: PackedBatch) -> torch.Tensor:
    """Sum of target-token log-probabilities per packed example: shape [batch.n_examples]."""
    _, head = _decoder_and_head(model)
    hidden = _hidden(model, batch)
    mask = batch.targets != IGNORE
    logits = head(hidden[mask]).float()
    token_logp = torch.log_softmax(logits, -1).gather(-1, batch.targets[mask].unsqueeze(-1)).squeeze(-1)
    sums = torch.zeros(batch.n_examples, dtype=token_logp.dtype, device=token_logp.device)
    return sums.index_add(0, batch.segment_ids[mask], token_logp)


def dpo_stats(model, batch: PackedBatch, beta: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(sum of DPO losses, number of pairs with chosen reward > rejected reward, number of pairs).

    The batch holds examples [chosen_0, rejected_0, chosen_1, rejected_1, ...].
    The reference model is the base model: the LoRA adapter switched off.
    """
    policy = sequence_logps(model, batch)
    with torch.no_grad(), model.disable_adapter():
        reference = sequence_logps(model, batch)
    chosen_reward = beta * (policy[0::2] - reference[0::2])
    rejected_reward = beta * (policy[1::2] - reference[1::2])
    margin = chosen_reward - rejected_reward
    losses = -F.logsigmoid(margin)
    return losses.sum(), (margin.detach() > 0).sum(), int(margin.numel())


# --------------------------------------------------------------------------- state on disk


def _fingerprint(spec: TrainSpec, n_epochs: int, batch_size: int, lr_mult: float) -> str:
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


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _write_atomically(target: Path, write: Callable[[Path], None]) -> None:
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


def _find_resume_state(output_dir: Path) -> Path | None:
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


def _csv(rows: list[dict]) -> str:
    def fmt(x):
        return "" if x is None else f"{x:.6f}"

    lines = [RESULT_CSV_HEADER]
    for r in rows:
        lines.append(
            f"{r['step']},{fmt(r['train_loss'])},{fmt(r['train_mean_token_accuracy'])},"
            f"{fmt(r['valid_loss'])},{fmt(r['valid_mean_token_accuracy'])}"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- training


def _threads(device: str) -> None:
    if device != "cpu":
        return
    wanted = os.environ.get("FINEWEB_TORCH_THREADS")
    try:
        n = int(wanted) if wanted else len(os.sched_getaffinity(0))
    except (AttributeError, ValueError):
        n = os.cpu_count() or 1
    torch.set_num_threads(max(1, n))


def _lr_lambda(total_steps: int, warmup: int):
    def f(step: int) -> float:  # step = number of optimizer steps already taken
        if step < warmup:
            return (step + 1) / warmup
        remaining = max(1, total_steps - warmup)
        return max(0.1, 1.0 - 0.9 * (step - warmup) / remaining)

    return f


def train(
    spec: TrainSpec,
    *,
    on_metrics: Callable[[Metrics], None],
    on_checkpoint: Callable[[Checkpoint], None],
    should_cancel: Callable[[], bool],
    on_event: Callable[[str, str], None] | None = None,
) -> TrainResult:
    """Fine-tune ``spec.base_model`` with LoRA; see the module and README for the contract.

    Raises ``DataError`` for malformed files, ``UnknownModel`` for an unknown base model,
    ``ValueError`` for an unknown method.
    """
    if spec.method not in METHODS:
        raise ValueError(f"unknown method {spec.method!r}; local training supports {', '.join(METHODS)}")
    devices = ["cuda"] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):  # leave the caller's RNG alone
        return _train(spec, on_metrics, on_checkpoint, should_cancel, on_event or (lambda level, msg: None))


def _train(spec, on_metrics, on_checkpoint, should_cancel, event) -> TrainResult:
    from peft import LoraConfig, get_peft_model

    t_start = time.monotonic()
    device = spec.device or pick_device()
    _threads(device)
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
    output_dir = Path(spec.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.monotonic()
    model, tokenizer = load_base(spec.base_model, cache_dir=Path(spec.cache_dir), device="cpu")
    event("info", f"Loaded base model {spec.base_model} in {time.monotonic() - t0:.1f} s")
    pad_id = tokenizer.pad_token_id
    use_packed_attention(model)  # this copy of the base model is only ever fed packed rows

    dpo = spec.method == "dpo"
    loader = load_preference if dpo else load_supervised
    train_items = loader(Path(spec.training_path), tokenizer, spec.max_seq_len)
    valid_items = []
    if spec.validation_path:
        try:
            valid_items = loader(Path(spec.validation_path), tokenizer, spec.max_seq_len)[
                : spec.max_eval_examples
            ]
        except DataError as exc:
            raise DataError(exc.line_no, f"validation file: {exc.message}") from exc
    n = len(train_items)
    n_epochs = spec.n_epochs or auto_epochs(n, device)
    batch_size = min(spec.batch_size or auto_batch_size(n), n)
    lr_mult = spec.learning_rate_multiplier or 1.0
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = steps_per_epoch * n_epochs
    n_tokens = (
        sum(len(p.chosen) + len(p.rejected) for p in train_items) if dpo else sum(len(e) for e in train_items)
    )
    event(
        "info",
        f"Training {spec.method} on {n} examples ({n_tokens} tokens), {len(valid_items)} validation examples: "
        f"{n_epochs} epochs, batch size {batch_size}, learning rate {BASE_LEARNING_RATE * lr_mult:.2e}, "
        f"{total_steps} steps on {device}",
    )

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
    model.to(device)
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [p for _, p in trainable], lr=BASE_LEARNING_RATE * lr_mult, weight_decay=0.0
    )
    warmup = max(1, min(10, round(0.05 * total_steps)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total_steps, warmup))

    fingerprint = _fingerprint(spec, n_epochs, batch_size, lr_mult)
    step = 0
    tokens_seen = 0
    elapsed_before = 0.0
    rows: list[dict] = []
    resumed_from = 0
    state_dir = _find_resume_state(output_dir)
    if state_dir is not None:
        state = torch.load(state_dir / STATE_FILE, map_location="cpu", weights_only=False)
        if state.get("fingerprint") != fingerprint:
            event(
                "warning", f"Ignoring saved state {state_dir.name}: it belongs to different data or settings"
            )
        else:
            params = dict(trainable)
            with torch.no_grad():
                for name, value in state["trainable"].items():
                    params[name].copy_(value.to(device))
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            _set_rng_state(state["rng"])
            step, tokens_seen, elapsed_before, rows = (
                state["step"],
                state["tokens_seen"],
                state["elapsed_s"],
                state["rows"],
            )
            resumed_from = step
            event("info", f"Resumed from step {step} ({state_dir.parent.name}/{state_dir.name})")

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - t_start

    def save_state(target: Path, with_adapter: bool) -> None:
        def write(tmp: Path) -> None:
            if with_adapter:
                model.save_pretrained(str(tmp))
            torch.save(
                {
                    "fingerprint": fingerprint,
                    "step": step,
                    "epoch": (step - 1) // steps_per_epoch + 1 if step else 0,
                    "data_order": epoch_order((step - 1) // steps_per_epoch if step else 0).tolist(),
                    "tokens_seen": tokens_seen,
                    "elapsed_s": elapsed(),
                    "rows": rows,
                    "trainable": {name: p.detach().cpu().clone() for name, p in trainable},
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": _rng_state(),
                },
                tmp / STATE_FILE,
            )

        _write_atomically(target, write)

    def epoch_order(epoch_index: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(spec.seed * 1_000_003 + epoch_index)
        return torch.randperm(n, generator=g)

    def batch_of(items) -> PackedBatch:
        if dpo:
            examples: list[Example] = [e for p in items for e in (p.chosen, p.rejected)]
        else:
            examples = list(items)
        return pack_one_row(examples, pad_id).to(device)

    def stats(batch: PackedBatch):
        return dpo_stats(model, batch, spec.dpo_beta) if dpo else token_stats(model, batch)

    def evaluate() -> tuple[float, float] | tuple[None, None]:
        if not valid_items:
            return None, None
        model.eval()
        loss_sum, correct, count = 0.0, 0, 0
        chunk = max(1, min(16, batch_size * 2))
        with torch.no_grad():
            for i in range(0, len(valid_items), chunk):
                loss_part, c, k = stats(batch_of(valid_items[i : i + chunk]))
                loss_sum, correct, count = loss_sum + float(loss_part), correct + int(c), count + k
        model.train()
        return (loss_sum / count, correct / count) if count else (None, None)

    last_metrics: Metrics | None = None
    last_save = time.monotonic()
    model.train()
    status = "succeeded"
    current_epoch = -1
    while step < total_steps:
        epoch_index, in_epoch = divmod(step, steps_per_epoch)
        if epoch_index != current_epoch:
            current_epoch = epoch_index
            order = epoch_order(epoch_index)
            if in_epoch == 0:
                event("info", f"Epoch {epoch_index + 1}/{n_epochs}")
        if should_cancel():
            status = "cancelled"
            event("info", f"Cancelled after step {step}")
            break
        ids = order[in_epoch * batch_size : (in_epoch + 1) * batch_size].tolist()
        batch = batch_of([train_items[i] for i in ids])
        loss_sum, correct, count = stats(batch)
        optimizer.zero_grad(set_to_none=True)
        if count:
            (loss_sum / count).backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in trainable], 1.0)
            optimizer.step()
        scheduler.step()
        step += 1
        tokens_seen += batch.n_tokens
        train_loss = float(loss_sum.detach()) / count if count else 0.0
        train_acc = int(correct) / count if count else 0.0
        valid_loss = valid_acc = None
        if valid_items and (step == 1 or step % max(1, spec.eval_every) == 0 or step == total_steps):
            valid_loss, valid_acc = evaluate()
        last_metrics = Metrics(
            step=step,
            total_steps=total_steps,
            epoch=epoch_index + 1,
            train_loss=train_loss,
            train_mean_token_accuracy=train_acc,
            valid_loss=valid_loss,
            valid_mean_token_accuracy=valid_acc,
            tokens_seen=tokens_seen,
            elapsed_s=round(elapsed(), 3),
        )
        rows.append(asdict(last_metrics))
        on_metrics(last_metrics)
        if step % steps_per_epoch == 0:
            path = output_dir / "checkpoints" / f"step-{step}"
            save_state(path, with_adapter=True)
            last_save = time.monotonic()
            event("info", f"Checkpoint saved at step {step} (epoch {epoch_index + 1}/{n_epochs})")
            on_checkpoint(Checkpoint(step=step, epoch=epoch_index + 1, path=path, metrics=last_metrics))
        elif step % max(1, spec.save_every_steps) == 0 or time.monotonic() - last_save >= spec.save_every_s:
            save_state(output_dir / "resume" / f"step-{step}", with_adapter=False)
            last_save = time.monotonic()
            for old in (output_dir / "resume").glob("step-*"):
                if old.name != f"step-{step}":
                    shutil.rmtree(old, ignore_errors=True)

    adapter_path = None
    if status == "succeeded":
        adapter_path = output_dir / "adapter"
        _write_atomically(adapter_path, lambda tmp: model.save_pretrained(str(tmp)))
        shutil.rmtree(output_dir / "resume", ignore_errors=True)
        event("info", f"Training finished: {step} steps, {tokens_seen} tokens in {elapsed():.1f} s")
    if last_metrics is None and rows:
        last_metrics = Metrics(**rows[-1])
    return TrainResult(
        status=status,
        trained_tokens=tokens_seen,
        steps=step,
        metrics=last_metrics,
        adapter_path=adapter_path,
        result_csv=_csv(rows),
        n_epochs=n_epochs,
        batch_size=batch_size,
        learning_rate_multiplier=lr_mult,
        total_steps=total_steps,
        resumed_from_step=resumed_from,
    )
