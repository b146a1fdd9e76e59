"""The local trainer against TRL's SFTTrainer and against this machine's own matmul peak.

    python benchmarks/bench_trainer_vs_trl.py --cache-dir .data/models            # SmolLM2-135M-Instruct
    python benchmarks/bench_trainer_vs_trl.py --model fineweb-tiny --steps 4        # quick run

Needs ``benchmarks/requirements.txt`` (TRL, pinned; not an app dependency). Prints numbers; never
asserts.

1. Ceiling: fp32 and bf16 matrix-product throughput of this machine, measured in this run on
   square 1024 products and on the shapes of one of our steps (tokens x 576 @ 576 x 1536); the
   best of them is the "peak" of each precision.
2. Peer: TRL ``SFTTrainer`` with ``padding_free=True`` (transformers turns the restarting
   ``position_ids`` into per-example attention), gradient checkpointing off (TRL's default is on,
   which would only slow it down here), in the same precision our trainer picks (``bf16=True``
   when the CPU has native bf16, as our ``precision.pick_precision``), the same shipped samples
   in the same order (TRL gets our tokenisation as ``input_ids`` + ``labels``, so both train the
   same tokens), the same base weights (our converted SmolLM2), LoRA r=8/alpha 16/dropout 0.05 on
   the same projections, starting from *our* LoRA initialisation (copied in), batch 8, AdamW at a
   constant 2e-4, clipping 1.0. Ours is the real ``TrainingRun.train_step`` (what ``train()``
   runs). The steps alternate: each TRL step is followed by our step on the same batch (a
   ``TrainerCallback`` runs ours), so machine noise falls on both; then (unless
   ``--no-peft-forward``) a third trainer on the same batch, ours with peft's forward under
   autocast, as it ran before ``fasttrain.py``, to show what the lean forward changed. The first ``--warmup`` steps
   of each are not timed. TRL's time is everything its loop does per step (collation, forward,
   backward, optimizer, logging), ours is all of ``train_step`` (packing included).
3. Model FLOPs of our step (LoRA: the frozen base needs no weight gradients):
       F = 4*N_base*T + 6*N_lora*T + 4*V*d*T_target + 6*L*d_attn*sum(n_i^2)/... (see step_flops)
   and MFU = F / step time / peak, against the fp32 and the bf16 peak.
Writes the two loss curves as CSV and SVG to ``.data/bench/trainer_vs_trl.{csv,svg}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from localtuner.engine import TrainSpec  # noqa: E402
from localtuner.engine.basemodels import load_base, set_torch_threads  # noqa: E402
from localtuner.engine.hyper import LORA_TARGETS  # noqa: E402
from localtuner.engine.precision import pick_precision  # noqa: E402
from localtuner.engine.trainer import TrainingRun  # noqa: E402

SAMPLES = ROOT / "localtuner" / "samples"
OUT = ROOT / ".data" / "bench"


# --------------------------------------------------------------------------- ceiling


def matmul_gflops(m: int, k: int, n: int, dtype: torch.dtype, seconds: float = 1.0) -> float:
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * m * k * n * count / (time.perf_counter() - start) / 1e9


def peaks(tokens: int, hidden: int, inter: int) -> dict[str, float]:
    shapes = [(1024, 1024, 1024), (tokens, hidden, inter), (tokens, inter, hidden)]
    result = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        got = {s: matmul_gflops(*s, dtype) for s in shapes}
        result[name] = max(got.values())
        shown = ", ".join(f"{m}x{k}@{k}x{n}: {g:.0f}" for (m, k, n), g in got.items())
        print(f"matmul {name}: {shown} GFLOP/s -> peak {result[name]:.0f} GFLOP/s")
    return result


# --------------------------------------------------------------------------- model FLOPs


def step_flops(model, lengths: list[int], n_targets: int) -> tuple[float, dict[str, float]]:
    """Model FLOPs of one LoRA training step on a packed row of examples of ``lengths``.

    With T tokens, T_t of them with a target, N_base the frozen decoder linear weights
    (q,k,v,o,gate,up,down of every layer), N_lora the LoRA weights, V*d the LM head:
      forward           2*N_base*T + 2*N_lora*T + 2*V*d*T_t + attention
      backward, inputs  2*N_base*T + 2*N_lora*T + 2*V*d*T_t + 2 x attention
      backward, weights               2*N_lora*T   (the base and the head are frozen: none)
      attention forward per layer and example of n tokens, causal: QK^T and AV over the
      n(n+1)/2 visible pairs, 2 * 2 * d_attn each  -> 2 * n(n+1) * d_attn
    Embedding look-ups, norms, activations, softmax and the optimizer are not counted.
    """
    config = model.config
    base = model.get_base_model()
    n_base = sum(m.base_layer.weight.numel() if hasattr(m, "base_layer") else 0 for m in base.modules())
    n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    head = base.get_output_embeddings().weight.numel()
    tokens = sum(lengths)
    d_attn = config.num_attention_heads * (config.hidden_size // config.num_attention_heads)
    attention_fwd = config.num_hidden_layers * sum(2 * n * (n + 1) * d_attn for n in lengths)
    parts = {
        "frozen base, forward + input gradients (4*N_base*T)": 4.0 * n_base * tokens,
        "LoRA, forward + input + weight gradients (6*N_lora*T)": 6.0 * n_lora * tokens,
        "LM head on targets, forward + input gradients (4*V*d*T_t)": 4.0 * head * n_targets,
        "attention, forward + backward (3 x 2*n(n+1)*d_attn per layer)": 3.0 * attention_fwd,
    }
    return sum(parts.values()), parts | {"N_base": n_base, "N_lora": n_lora, "V*d": head}


# --------------------------------------------------------------------------- the two trainers


def samples_file(directory: Path) -> Path:
    path = directory / "samples.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for name in ("german.jsonl", "json_answers.jsonl"):
            out.write((SAMPLES / name).read_text(encoding="utf-8").rstrip("\n") + "\n")
    return path


def our_run(
    model_name: str,
    cache_dir: Path,
    train_path: Path,
    out: Path,
    batch: int,
    precision: str | None,
    fused_forward: bool = True,
):
    spec = TrainSpec(
        base_model=model_name,
        method="supervised",
        training_path=train_path,
        validation_path=None,
        output_dir=out,
        cache_dir=cache_dir,
        n_epochs=1,
        batch_size=batch,
        learning_rate_multiplier=1.0,
        save_every_steps=10**9,
        save_every_s=1e9,
        max_seq_len=512,
        precision=precision,
        fused_forward=fused_forward,
    )
    return TrainingRun(spec, lambda level, message: None)


def svg(curves: dict[str, list[float]], path: Path) -> None:
    width, height, pad = 480, 240, 30
    values = [v for c in curves.values() for v in c]
    lo, hi, n = min(values), max(values), max(len(c) for c in curves.values())

    def xy(i: int, v: float) -> str:
        x = pad + (width - 2 * pad) * (i / max(1, n - 1))
        y = height - pad - (height - 2 * pad) * ((v - lo) / ((hi - lo) or 1))
        return f"{x:.1f},{y:.1f}"

    colours = ["#1f77b4", "#d62728", "#2ca02c"]
    lines = [
        f'<polyline fill="none" stroke="{colours[k % 3]}" stroke-width="2" '
        f'points="{" ".join(xy(i, v) for i, v in enumerate(c))}"/>'
        f'<text x="{pad + 5}" y="{15 + 14 * k}" fill="{colours[k % 3]}" font-size="12">{name}</text>'
        for k, (name, c) in enumerate(curves.items())
    ]
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<text x="{width - 200}" y="{height - 8}" font-size="11">training loss per step ({lo:.3f}-{hi:.3f})</text>'
        + "".join(lines)
        + "</svg>\n",
        encoding="utf-8",
    )


def compare(args) -> None:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
    from trl import SFTConfig, SFTTrainer

    precision = pick_precision("cpu", args.precision)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        train_path = samples_file(tmpdir)
        ours = our_run(args.model, args.cache_dir, train_path, tmpdir / "ours", args.batch_size, precision)
        # The same trainer with peft's forward under autocast (what it ran before fasttrain.py),
        # stepped in the same alternation: the ratio shows what the lean forward buys.
        old = (
            our_run(
                args.model,
                args.cache_dir,
                train_path,
                tmpdir / "old",
                args.batch_size,
                precision,
                False,
            )
            if args.peft_forward
            else None
        )
        total = args.warmup + args.steps
        order = ours.epoch_order(0).tolist()
        if total * args.batch_size > len(order):
            order = (order * (total * args.batch_size // len(order) + 1))[: total * args.batch_size]
        batches = [order[i * args.batch_size : (i + 1) * args.batch_size] for i in range(total)]
        rows = [
            {"input_ids": ours.train_items[j].input_ids, "labels": ours.train_items[j].labels}
            for b in batches
            for j in b
        ]
        lengths = [[len(ours.train_items[j]) for j in b] for b in batches]
        n_targets = [sum(ours.train_items[j].n_trained for j in b) for b in batches]

        model, tokenizer = load_base(args.model, cache_dir=args.cache_dir, device="cpu")  # sdpa
        config = SFTConfig(
            output_dir=str(tmpdir / "trl"),
            per_device_train_batch_size=args.batch_size,
            max_steps=total,
            learning_rate=2e-4,
            lr_scheduler_type="constant",
            warmup_steps=0,
            weight_decay=0.0,
            max_grad_norm=1.0,
            padding_free=True,
            activation_checkpointing=False,  # TRL defaults it on; off is faster here
            bf16=precision == "bf16",
            use_cpu=True,
            logging_steps=1,
            report_to=[],
            save_strategy="no",
            train_sampling_strategy="sequential",
            max_length=None,  # our encoding already cut examples at 512 tokens
            dataloader_num_workers=0,
            seed=0,
            disable_tqdm=True,
        )
        lora = LoraConfig(
            r=8,
            lora_alpha=16,
            lora_dropout=0.05,
            target_modules=LORA_TARGETS,
            bias="none",
            task_type="CAUSAL_LM",
        )
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=lora,
        )
        ours_init = {name: p.detach().clone() for name, p in ours.trainable}
        trl_params = dict(cast(torch.nn.Module, trainer.model).named_parameters())
        with torch.no_grad():
            for name, value in ours_init.items():
                trl_params[name].copy_(value)  # same LoRA start (the names are peft's in both)
        result: dict[str, dict[str, Any]] = {
            k: {"seconds": 0.0, "tokens": 0, "losses": [], "step_s": []} for k in ("trl", "ours", "old")
        }
        clock: dict = {"mark": None, "step": 0}

        class Alternate(TrainerCallback):
            def on_step_begin(
                self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs
            ):
                if clock["mark"] is None:
                    clock["mark"] = time.perf_counter()

            def on_step_end(
                self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs
            ):
                k = clock["step"]
                trl_s = time.perf_counter() - clock["mark"]
                t0 = time.perf_counter()
                metrics = ours.train_step(batches[k], 0)
                ours_s = time.perf_counter() - t0
                result["ours"]["losses"].append(metrics.train_loss)
                timings = [("trl", trl_s), ("ours", ours_s)]
                if old is not None:
                    t0 = time.perf_counter()
                    result["old"]["losses"].append(old.train_step(batches[k], 0).train_loss)
                    timings.append(("old", time.perf_counter() - t0))
                for kind, seconds in timings:
                    result[kind]["step_s"].append(seconds)
                    if k >= warmup:
                        result[kind]["seconds"] += seconds
                        result[kind]["tokens"] += sum(lengths[k])
                clock["step"] = k + 1
                print(
                    f"  step {k + 1}/{total}: "
                    + ", ".join(f"{kind} {seconds:.2f} s" for kind, seconds in timings),
                    flush=True,
                )
                clock["mark"] = time.perf_counter()

            def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
                logs = kwargs.get("logs")
                if logs and "loss" in logs:
                    result["trl"]["losses"].append(float(logs["loss"]))

        warmup = args.warmup
        trainer.add_callback(Alternate())
        print(
            f"\n== Ours vs TRL {__import__('trl').__version__} SFTTrainer (padding_free), {args.model}, "
            f"precision {precision}, batch {args.batch_size}, {args.warmup} warm-up + {args.steps} timed steps, "
            f"{torch.get_num_threads()} threads"
        )
        trainer.train()

    for r in result.values():
        r["tokens_per_s"] = r["tokens"] / r["seconds"] if r["seconds"] else 0.0
    t_rl, t_ours = result["trl"]["tokens_per_s"], result["ours"]["tokens_per_s"]
    print(f"TRL padding-free: {t_rl:8.1f} useful tokens/s  ({result['trl']['seconds']:.1f} s)")
    print(f"ours            : {t_ours:8.1f} useful tokens/s  ({result['ours']['seconds']:.1f} s)")
    print(f"ours / TRL: {t_ours / t_rl:.2f}x (target 2x)")
    if result["old"]["seconds"]:
        t_old = result["old"]["tokens_per_s"]
        print(f"ours with peft's forward under autocast (before fasttrain.py): {t_old:8.1f} useful tokens/s")
        print(f"lean forward / peft forward: {t_ours / t_old:.2f}x; peft forward / TRL: {t_old / t_rl:.2f}x")
    for kind in ("trl", "ours", "old"):
        if not result[kind]["losses"]:
            continue
        print(f"loss curve {kind:>4}: " + " ".join(f"{v:.4f}" for v in result[kind]["losses"]))
    diffs = [abs(a - b) for a, b in zip(result["trl"]["losses"], result["ours"]["losses"], strict=False)]
    print(
        f"max |loss difference| over the curve: {max(diffs):.3e} (same init and data; dropout draws differ)"
    )

    timed = range(args.warmup, total)
    flops = [step_flops(ours.model, lengths[k], n_targets[k]) for k in timed]
    total_flops = sum(f for f, _ in flops)
    _, parts = flops[0]
    print("\nmodel FLOPs of one step (first timed step):")
    for name, value in parts.items():
        print(f"  {name}: {value:.3e}")
    tokens = sum(sum(lengths[k]) for k in timed)
    print(f"  = {total_flops / tokens / 1e6:.0f} MFLOP per trained token on these batches")
    achieved = total_flops / result["ours"]["seconds"] / 1e9
    peak = peaks(
        max(sum(x) for x in lengths), ours.model.config.hidden_size, ours.model.config.intermediate_size
    )
    print(
        f"ours: {achieved:.0f} GFLOP/s achieved -> MFU {achieved / peak['fp32']:.0%} of the fp32 peak, "
        f"{achieved / peak['bf16']:.0%} of the bf16 peak (running in {precision}; target 40% of its peak)"
    )
    trl_achieved = total_flops / result["trl"]["seconds"] / 1e9
    print(
        f"TRL (same useful work): {trl_achieved:.0f} GFLOP/s -> {trl_achieved / peak[precision]:.0%} of the {precision} peak"
    )

    OUT.mkdir(parents=True, exist_ok=True)
    csv = OUT / "trainer_vs_trl.csv"
    csv.write_text(
        "step,trl_loss,ours_loss,trl_step_s,ours_step_s\n"
        + "".join(
            f"{i + 1},{a},{b},{sa:.3f},{sb:.3f}\n"
            for i, (a, b, sa, sb) in enumerate(
                zip(
                    result["trl"]["losses"],
                    result["ours"]["losses"],
                    result["trl"]["step_s"],
                    result["ours"]["step_s"],
                    strict=False,
                )
            )
        ),
        encoding="utf-8",
    )
    curves = {"TRL SFTTrainer": result["trl"]["losses"], "ours": result["ours"]["losses"]}
    if result["old"]["losses"]:
        curves["ours, peft forward"] = result["old"]["losses"]
    svg(curves, OUT / "trainer_vs_trl.svg")
    print(f"loss curves: {csv} and {OUT / 'trainer_vs_trl.svg'}")
    print(json.dumps({"ours_tokens_per_s": round(t_ours, 1), "trl_tokens_per_s": round(t_rl, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="SmolLM2-135M-Instruct")
    parser.add_argument("--steps", type=int, default=6, help="timed steps of each trainer")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first steps of each")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--precision", default=None, help="fp32 or bf16 (default: what the trainer picks)")
    parser.add_argument(
        "--no-peft-forward",
        dest="peft_forward",
        action="store_false",
        help="skip the third trainer (ours with peft's forward, as before fasttrain.py)",
    )
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "fineweb-model-cache")
    args = parser.parse_args()
    set_torch_threads("cpu")
    try:
        import trl  # noqa: F401
    except ImportError:
        print("TRL is not installed: pip install -r benchmarks/requirements.txt (skipping)")
        return
    compare(args)


if __name__ == "__main__":
    main()
