"""Validate + count tokens of a generated 100k-line chat file: our streaming validator against a
baseline written the way OpenAI's cookbook data-prep notebook works (load every line with
json.loads into a list, then encode every message value with the tokenizer, here the same
bpe-openai o200k_base encoder). Prints times, peak memory at two file sizes, and ratios.
Never fails: numbers only.

    python benchmarks/bench_dataset_validation.py [--lines 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fineweb.settings")
os.environ.setdefault("FINEWEB_DATA_DIR", str(Path(tempfile.gettempdir()) / "fineweb-bench"))

SYSTEMS = [
    "You are a friendly support assistant for Acme Cloud. Always answer in German, briefly and politely.",
    "You are a careful assistant that answers billing questions for Acme Cloud in German.",
    "Du bist der Kundenservice von Acme. Antworte immer freundlich auf Deutsch.",
]
PRODUCTS = ["router", "invoice", "VPN", "backup plan", "storage bucket", "API key", "team seat", "domain"]
VERBS = ["cancel", "upgrade", "reset", "move", "renew", "share", "delete", "restore"]
WORDS = ("Vielen Dank für Ihre Nachricht Wir helfen Ihnen gern weiter Bitte öffnen Sie die Einstellungen "
         "und wählen Sie den Bereich Konto aus Dort finden Sie alle Optionen für Ihr Abonnement Ihre "
         "Änderung wird sofort wirksam und Sie erhalten eine Bestätigung per Nachricht").split()


def generate(path: Path, n_lines: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n_lines):
            user = (f"Hi, how do I {rng.choice(VERBS)} my {rng.choice(PRODUCTS)} number {rng.randint(1000, 99999)}? "
                    f"It is for order {i} and I need it by {rng.choice(['Monday', 'Friday', 'tomorrow'])}.")
            answer = " ".join(rng.choice(WORDS) for _ in range(rng.randint(25, 70))) + "."
            example = {"messages": [
                {"role": "system", "content": rng.choice(SYSTEMS)},
                {"role": "user", "content": user},
                {"role": "assistant", "content": answer},
            ]}
            f.write(json.dumps(example, ensure_ascii=False) + "\n")


# --- The baseline: OpenAI cookbook "Chat_finetuning_data_prep", as written there. ---------------
def cookbook_baseline(path: str) -> dict:
    import bpe_openai
    import numpy as np

    with open(path, encoding="utf-8") as f:
        dataset = [json.loads(line) for line in f]
    format_errors: dict = defaultdict(int)
    for ex in dataset:
        if not isinstance(ex, dict):
            format_errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            format_errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                format_errors["message_missing_key"] += 1
            if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                format_errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                format_errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                format_errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            format_errors["example_missing_assistant_message"] += 1

    encoding = bpe_openai.get_encoding("o200k_base")

    def num_tokens_from_messages(messages, tokens_per_message=3, tokens_per_name=1):
        num_tokens = 0
        for message in messages:
            num_tokens += tokens_per_message
            for key, value in message.items():
                num_tokens += len(encoding.encode(value))
                if key == "name":
                    num_tokens += tokens_per_name
        num_tokens += 3
        return num_tokens

    def num_assistant_tokens_from_messages(messages):
        num_tokens = 0
        for message in messages:
            if message["role"] == "assistant":
                num_tokens += len(encoding.encode(message["content"]))
        return num_tokens

    n_missing_system = n_missing_user = 0
    n_messages, convo_lens, assistant_message_lens = [], [], []
    for ex in dataset:
        messages = ex["messages"]
        if not any(message["role"] == "system" for message in messages):
            n_missing_system += 1
        if not any(message["role"] == "user" for message in messages):
            n_missing_user += 1
        n_messages.append(len(messages))
        convo_lens.append(num_tokens_from_messages(messages))
        assistant_message_lens.append(num_assistant_tokens_from_messages(messages))
    for values in (n_messages, convo_lens, assistant_message_lens):
        np.min(values), np.max(values), np.mean(values), np.median(values)
        np.quantile(values, 0.1), np.quantile(values, 0.9)
    max_tokens = 65536
    n_billing = sum(min(max_tokens, length) for length in convo_lens)
    return {"n_examples": len(dataset), "total_tokens": sum(convo_lens), "billing": n_billing,
            "errors": sum(format_errors.values())}


def streaming(path: str) -> dict:
    import django

    django.setup()
    from datasets_app.validation import validate_file

    report = validate_file(path, model="gpt-4o-mini-2024-07-18")
    return {"n_examples": report.stats["n_examples"], "total_tokens": report.stats["total_tokens"],
            "billing": report.stats["tokens_capped_total"], "errors": report.error_count}


def _child(which: str, path: str) -> None:
    """Measure peak Python memory of one run (tracemalloc), after the tokenizer is loaded."""
    import tracemalloc

    import bpe_openai

    from datasets_app.tokens import raw_counter

    bpe_openai.get_encoding("o200k_base")
    raw_counter("o200k_base")
    if which == "streaming":
        import django

        django.setup()
    tracemalloc.start()
    (streaming if which == "streaming" else cookbook_baseline)(path)
    _, peak = tracemalloc.get_traced_memory()
    print(json.dumps({"peak": peak}))


def peak_memory(which: str, path: Path) -> int:
    out = subprocess.run([sys.executable, __file__, "--child", which, str(path)], capture_output=True, text=True)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])["peak"]
    except (IndexError, ValueError, KeyError):
        print(out.stderr[-2000:])
        return -1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.jsonl"
        small = Path(tmp) / "small.jsonl"
        generate(big, args.lines)
        generate(small, args.lines // 4)
        mb = big.stat().st_size / 1e6
        print(f"file: {args.lines:,} lines, {mb:.1f} MB (and {args.lines // 4:,} lines for the memory check)")

        # Warm both (tokenizer load, Django setup) so the timings compare the work, not start-up.
        streaming(str(small))
        cookbook_baseline(str(small))
        t0 = time.perf_counter()
        ours = streaming(str(big))
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        base = cookbook_baseline(str(big))
        t_base = time.perf_counter() - t0
        print(f"streaming validator : {t_ours:7.2f} s  ({args.lines / t_ours:,.0f} lines/s, {mb / t_ours:.1f} MB/s)")
        print(f"cookbook baseline   : {t_base:7.2f} s  ({args.lines / t_base:,.0f} lines/s)")
        print(f"speed-up            : {t_base / t_ours:7.2f}x  (target >= 5x)")
        same = ours["total_tokens"] == base["total_tokens"] and ours["n_examples"] == base["n_examples"]
        print(f"same token total    : {same} (ours {ours['total_tokens']:,}, baseline {base['total_tokens']:,})")

        rows = []
        for label, path in (("1/4 size", small), ("full size", big)):
            rows.append((label, peak_memory("streaming", path), peak_memory("baseline", path)))
        print("peak Python memory (tracemalloc, after the tokenizer is loaded):")
        for label, ours_peak, base_peak in rows:
            print(f"  {label:9}: streaming {ours_peak / 1e6:7.1f} MB   cookbook {base_peak / 1e6:7.1f} MB")
        growth_ours = rows[1][1] / max(rows[0][1], 1)
        growth_base = rows[1][2] / max(rows[0][2], 1)
        print(f"memory growth for 4x the file: streaming x{growth_ours:.2f}, cookbook x{growth_base:.2f}")
        print(f"memory ratio at full size: cookbook / streaming = {rows[1][2] / max(rows[1][1], 1):.1f}x")


if __name__ == "__main__":
    main()
