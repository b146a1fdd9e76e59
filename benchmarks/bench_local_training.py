"""Benchmark of the local training engine. Prints numbers; never asserts.

    python benchmarks/bench_local_training.py                       # SmolLM2-135M-Instruct, ~10 min on 2 cores
    python benchmarks/bench_local_training.py --model fineweb-tiny --steps 10   # quick run

1. Throughput: the engine's packed trainer step (one unpadded row per step,
   attention within each example, LM head only where a token is trained) vs a
   naive padded loop (each batch padded to its longest example, standard HF
   ``model(..., labels=...)`` loss): same model, same LoRA init, same batches,
   steps interleaved. Reports useful (non-pad) tokens/s of both, the ratio, and
   both loss curves' largest difference. Run twice: on the shipped samples in
   random order (as training takes them), and on batches of near-equal length,
   where there is little padding to remove (the worst case for packing).
2. Quality: fine-tunes the model with ``train()`` (3 epochs, batch 4, LR
   multiplier 5) on each of the two hand-written use-case samples in
   ``localtuner/samples`` (48 training chats each, see check_samples.py) and
   answers their 12 held-out chats greedily before and after:
   * German support: replies counted as German (function-word heuristic,
     ``is_german``: German words must outnumber English ones 3 to 1);
   * ticket JSON: replies that parse as JSON, replies that are a ticket
     (exactly the schema's keys, allowed intent/urgency values, see
     ``localtuner/samples/ticket_schema.py``), and ticket fields (intent, order_id,
     customer_email, product, urgency) equal to the reference answer's.
   About 10 minutes on 2 quiet CPU cores (~190 tokens a chat, 3 x 9k tokens
   trained per task, plus 48 generations).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from localtuner.engine import TrainSpec, generate, train  # noqa: E402
from localtuner.engine.attention import use_packed_attention  # noqa: E402
from localtuner.engine.basemodels import load_base, set_torch_threads  # noqa: E402
from localtuner.engine.data import pack_one_row, pad_batch, read_jsonl  # noqa: E402
from localtuner.engine.hyper import LORA_TARGETS  # noqa: E402
from localtuner.engine.inference import ModelCache  # noqa: E402
from localtuner.engine.losses import token_stats  # noqa: E402
from localtuner.samples.ticket_schema import ticket_errors  # noqa: E402

SAMPLES = ROOT / "localtuner" / "samples"

# Function words that are common in one language and rare in the other ("in", "so", "man", "was",
# "an", "am", "also" are left out: they are words in both).
GERMAN_WORDS_TEXT = """
    der die das den dem des ein eine einen einem einer eines und oder aber nicht kein keine ist sind
    wird werden wurde hat haben ich wir sie ihr ihre ihnen ihren ihrem ihrer es zu mit von im auf für
    bei nach aus um auch noch nur schon dann dort hier wenn dass ob wie wo sich bitte gern gerne vielen
    dank können kann müssen sollte diese dieser dieses bis über unter zum zur vom beim sehr uns unser
    unsere mich mir dich dir dein deine jedoch danach dafür damit dabei leider
"""
ENGLISH_WORDS_TEXT = """
    the and is are was were be been a of to with for on at by from this that these those there it its
    you your we our they their he she his her i me my not no can could would should will have has had
    do does did if then than what which who when where how please thank thanks just only very
"""
GERMAN_WORDS, ENGLISH_WORDS = set(GERMAN_WORDS_TEXT.split()), set(ENGLISH_WORDS_TEXT.split())


def is_german(text: str) -> bool:
    """German by its function words: at least 3, and at least 3 times as many as English ones.

    Words with umlauts or ß count as German too. A reply that starts in German and drifts into
    English (a common failure) fails the ratio.
    """
    words = re.findall(r"[a-zäöüß]+", text.lower())
    german = sum(w in GERMAN_WORDS or bool(re.search(r"[äöüß]", w)) for w in words)
    english = sum(w in ENGLISH_WORDS for w in words)
    return german >= 3 and german >= 3 * english


_NOT_JSON = object()


def parse_json(text: str):
    """The JSON value of the whole answer (surrounding whitespace allowed), else ``_NOT_JSON``."""
    try:
        return json.loads(text.strip())
    except ValueError:
        return _NOT_JSON


TICKET_FIELDS = ("intent", "order_id", "customer_email", "product", "urgency")  # compared exactly


def german_scores(answer: str, reference: str) -> dict[str, int]:
    return {"answered in German": int(is_german(answer))}


def ticket_scores(answer: str, reference: str) -> dict[str, int]:
    """Parses as JSON; is a ticket (exact keys, allowed enums); fields equal to the reference answer's."""
    obj, ref = parse_json(answer), json.loads(reference)
    parses = obj is not _NOT_JSON
    matches = parses and not ticket_errors(obj)
    return {
        "parses as JSON": int(parses),
        "matches the ticket schema": int(matches),
        "fields equal to the reference": sum(obj.get(k) == ref[k] for k in TICKET_FIELDS) if matches else 0,
    }


# --------------------------------------------------------------------------- throughput


def lora_model(model_name: str, cache_dir: Path, seed: int, packed: bool):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_base(model_name, cache_dir=cache_dir, device="cpu")
    if packed:
        use_packed_attention(model)  # as train() does
    torch.manual_seed(seed)
    config = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.0, target_modules=LORA_TARGETS, task_type="CAUSAL_LM"
    )
    model = get_peft_model(model, config)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    return model, optimizer


def padded_step(model, examples, pad_id: int) -> tuple[torch.Tensor, int, int]:
    """The naive loop: one example per row, right-padded to the batch's longest, HF's own loss."""
    batch = pad_batch(examples, pad_id)
    loss = model(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels, use_cache=False
    ).loss
    return loss, batch.n_tokens, batch.n_tokens + batch.n_pad


def packed_step(model, examples, pad_id: int) -> tuple[torch.Tensor, int, int]:
    """What train() does: one unpadded row, per-example attention, LM head only where there is a target."""
    batch = pack_one_row(examples, pad_id)
    loss_sum, _, n = token_stats(model, batch)
    return loss_sum / n, batch.n_tokens, batch.n_tokens + batch.n_pad


def compare_loops(model_name: str, cache_dir: Path, batches, pad_id: int) -> dict:
    """Both loops from the same LoRA init over the same batches, their steps interleaved.

    Interleaving (and alternating which loop goes first) keeps a noisy neighbour on a
    shared machine from landing on one loop only.
    """
    loops = {
        "padded": (padded_step, *lora_model(model_name, cache_dir, seed=0, packed=False)),
        "packed": (packed_step, *lora_model(model_name, cache_dir, seed=0, packed=True)),
    }
    results: dict[str, dict[str, Any]] = {
        k: {"seconds": 0.0, "useful_tokens": 0, "computed_tokens": 0, "losses": []} for k in loops
    }
    for step_fn, model, _ in loops.values():  # untimed warm-up (allocator, kernels), then the same init again
        lora = {k: v.clone() for k, v in model.state_dict().items() if "lora_" in k}
        step_fn(model, batches[0], pad_id)[0].backward()
        model.zero_grad(set_to_none=True)
        model.load_state_dict(lora, strict=False)
    for i, examples in enumerate(batches):
        for kind in sorted(loops, reverse=bool(i % 2)):
            step_fn, model, optimizer = loops[kind]
            r = results[kind]
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss, useful, computed = step_fn(model, examples, pad_id)
            loss.backward()
            optimizer.step()
            r["seconds"] += time.perf_counter() - start
            r["losses"].append(float(loss.detach()))
            r["useful_tokens"] += useful
            r["computed_tokens"] += computed
    for r in results.values():
        r["tokens_per_s"] = r["useful_tokens"] / r["seconds"]
    return results


def sample_examples(tokenizer) -> list:
    """The shipped training chats of both use cases, encoded as train() encodes them."""
    from localtuner.engine.data import chat_example

    examples = []
    for name in ("german.jsonl", "json_answers.jsonl"):
        examples += [chat_example(tokenizer, obj, n, 512) for n, obj in read_jsonl(SAMPLES / name)]
    return examples


def make_batches(examples, steps: int, batch_size: int, by_length: bool) -> list[list]:
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(examples), generator=g).tolist()
    groups = [order[i : i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
    if by_length:  # batches of near-equal lengths: almost no padding, the worst case for packing
        ranked = sorted(order, key=lambda j: len(examples[j]))
        groups = [ranked[i : i + batch_size] for i in range(0, len(ranked) - batch_size + 1, batch_size)]
        groups = [groups[k] for k in torch.randperm(len(groups), generator=g).tolist()]
    batches: list[list] = []
    while len(batches) < steps:
        batches += [[examples[j] for j in group] for group in groups]
    return batches[:steps]


def throughput(model_name: str, cache_dir: Path, steps: int, batch_size: int, by_length: bool) -> float:
    _, tokenizer = load_base(model_name, cache_dir=cache_dir, device="cpu")
    examples = sample_examples(tokenizer)
    batches = make_batches(examples, steps, batch_size, by_length)
    lengths = sorted(len(e) for e in examples)
    what = (
        "batches of near-equal length (little padding to remove)"
        if by_length
        else "shipped samples in random order, as training takes them"
    )
    print(
        f"\n== Throughput: {model_name}, {steps} steps of {batch_size} examples; {what}; "
        f"example length min/median/max {lengths[0]}/{lengths[len(lengths) // 2]}/{lengths[-1]} tokens, "
        f"{sum(len(e) for b in batches for e in b)} useful tokens in the timed steps"
    )
    results = compare_loops(model_name, cache_dir, batches, tokenizer.pad_token_id)
    for kind, r in results.items():
        pad_share = 1 - r["useful_tokens"] / r["computed_tokens"]
        tail = r["losses"][-max(1, steps // 5) :]
        print(
            f"{kind:>7}: {r['tokens_per_s']:8.1f} useful tokens/s  ({r['seconds']:.1f} s, "
            f"padding {pad_share:.0%} of computed positions)  loss first {r['losses'][0]:.4f} "
            f"last {r['losses'][-1]:.4f} (mean of last {len(tail)}: {sum(tail) / len(tail):.4f})"
        )
    ratio = results["packed"]["tokens_per_s"] / results["padded"]["tokens_per_s"]
    diffs = [
        abs(a - b) for a, b in zip(results["packed"]["losses"], results["padded"]["losses"], strict=True)
    ]
    print(
        f"packed / padded useful tokens/s: {ratio:.2f}x   max |loss difference| over the curve: {max(diffs):.2e}"
    )
    return ratio


# --------------------------------------------------------------------------- quality


def answers(model_name, adapter, cache_dir, prompts, max_tokens):
    cache = ModelCache(max_models=1)
    return [
        generate(
            base_model=model_name,
            adapter_path=adapter,
            messages=p,
            max_tokens=max_tokens,
            temperature=0,
            cache_dir=cache_dir,
            cache=cache,
        ).text
        for p in prompts
    ]


def one_line(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def marks(value: int, out_of: int) -> str:
    """One character per held-out chat: + passed, . failed, or the count when it is out of more than 1."""
    return str(value) if out_of > 1 else "+" if value else "."


def quality(
    model_name: str, cache_dir: Path, epochs: int, lr_mult: float, max_tokens: dict[str, int]
) -> None:
    tasks = [
        ("German support", "german", german_scores, max_tokens["german"]),
        ("Ticket JSON", "json_answers", ticket_scores, max_tokens["json"]),
    ]
    print(
        f"\n== Quality: {model_name}, {epochs} epochs, batch 4, LR multiplier {lr_mult}; greedy answers to "
        f"the held-out chats (the last assistant turn is the reference)"
    )
    for label, stem, score, limit in tasks:
        rows = [obj["messages"] for _, obj in read_jsonl(SAMPLES / f"{stem}_valid.jsonl")]
        held_out, references = [m[:-1] for m in rows], [m[-1]["content"] for m in rows]
        t0 = time.perf_counter()
        before = answers(model_name, None, cache_dir, held_out, limit)
        gen_s = time.perf_counter() - t0
        metrics: list = []
        with tempfile.TemporaryDirectory() as out:
            spec = TrainSpec(
                base_model=model_name,
                method="supervised",
                training_path=SAMPLES / f"{stem}.jsonl",
                validation_path=SAMPLES / f"{stem}_valid.jsonl",
                output_dir=Path(out),
                cache_dir=cache_dir,
                n_epochs=epochs,
                batch_size=4,
                learning_rate_multiplier=lr_mult,
                eval_every=1000,  # valid loss at the first and the last step only
                max_seq_len=512,
            )
            t0 = time.perf_counter()
            result = train(
                spec, on_metrics=metrics.append, on_checkpoint=lambda c: None, should_cancel=lambda: False
            )
            train_s = time.perf_counter() - t0
            after = answers(model_name, result.adapter_path, cache_dir, held_out, limit)
        valid = [m.valid_loss for m in metrics if m.valid_loss is not None]
        print(
            f"{label}: {len(rows)} held-out chats, at most {limit} new tokens each (generating the 'before' "
            f"answers took {gen_s:.0f} s); training {train_s:.0f} s, {result.steps} steps, "
            f"{result.trained_tokens} tokens, {result.trained_tokens / train_s:.0f} tokens/s incl. evals; "
            f"valid loss {valid[0]:.3f} -> {valid[-1]:.3f}"
        )
        scored = [
            [score(x, ref) for x, ref in zip(side, references, strict=True)] for side in (before, after)
        ]
        for name in scored[0][0]:
            per_chat = len(TICKET_FIELDS) if name.startswith("fields") else 1
            (b, marks_b), (a, marks_a) = (
                (sum(s[name] for s in side), "".join(marks(s[name], per_chat) for s in side))
                for side in scored
            )
            out_of = len(rows) * per_chat
            print(f"   {name:30} before {b:3}/{out_of} [{marks_b}]   after {a:3}/{out_of} [{marks_a}]")
        for q, x, y in list(zip(held_out, before, after, strict=True))[:3]:
            print(
                f"   Q: {one_line(q[-1]['content'])}\n      before: {one_line(x)!r}\n"
                f"      after:  {one_line(y)!r}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="SmolLM2-135M-Instruct")
    parser.add_argument("--steps", type=int, default=8, help="steps of the throughput comparison")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the quality fine-tunes")
    parser.add_argument("--lr-multiplier", type=float, default=5.0)
    parser.add_argument("--max-tokens-german", type=int, default=120, help="answer length limit, German task")
    parser.add_argument("--max-tokens-json", type=int, default=160, help="answer length limit, JSON task")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "fineweb-model-cache")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    set_torch_threads("cpu" if not torch.cuda.is_available() else "cuda")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device "
        f"{'cuda' if torch.cuda.is_available() else 'cpu'} (benchmark loops run on CPU)"
    )
    t0 = time.perf_counter()
    load_base(args.model, cache_dir=args.cache_dir, device="cpu")
    print(f"model cache ready in {time.perf_counter() - t0:.1f} s ({args.cache_dir})")
    if not args.skip_throughput:
        ratios = [
            throughput(args.model, args.cache_dir, args.steps, args.batch_size, by_length)
            for by_length in (False, True)
        ]
        print(
            f"\nratios (packed / padded useful tokens/s): shipped samples {ratios[0]:.2f}x (target 1.5x); "
            f"near-equal-length batches {ratios[1]:.2f}x"
        )
    if not args.skip_quality:
        limits = {"german": args.max_tokens_german, "json": args.max_tokens_json}
        quality(args.model, args.cache_dir, args.epochs, args.lr_multiplier, limits)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
