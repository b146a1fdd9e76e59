"""Local inference speed: /local/v1/chat/completions (streamed, real HTTP) against plain generate().

Starts uvicorn on fineweb's ASGI app (a throwaway SQLite data folder), registers a fine-tune whose
adapter the bench makes itself: an **untrained but non-zero LoRA adapter** on the same base (r=8,
alpha=16, on q/k/v/o/gate/up/down, peft's random init for both A and B, seed 0, B then halved:
at full size its reply ends after 10 tokens, halved it runs the 64 like the base's and differs
from the base's from the 5th token on), so the fine-tune's serving path is measured without a
training run.

For the base model and the fine-tune, alternating request by request with the peer:

* the server: 64 greedy tokens after a short chat prompt, streamed over SSE through httpx; time to
  first token (TTFT, the first content chunk) cold (the first request, which loads the model) and
  warm (median of the rest), tokens/s = completion tokens / request time;
* the peer: plain transformers `model.generate(do_sample=False, max_new_tokens=64)` in this process
  on the same weights (the fine-tune: the same adapter merged with peft), same threads;
* whether both gave the same greedy text;
* then both models streamed side by side (two clients at once), each one's tokens/s;
* llama.cpp (`llama-cpp-python`, optional: benchmarks/requirements-llama.txt) on the Q4_1 GGUF the base
  model is made from, when it is importable.

    python benchmarks/bench_local_inference.py [--rounds 5] [--model SmolLM2-135M-Instruct]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from embedded import uvicorn_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
KEY = "fw-local-bench-" + os.urandom(6).hex()
PROMPT = [{"role": "user", "content": "Write a short poem about the sea."}]
TOKENS = 64  # --tokens changes it

REGISTER = """
from django.utils import timezone
from localtuner.models import LocalJob
job = LocalJob.objects.create(model={model!r}, training_file="file-bench", seed=0,
    status=LocalJob.Status.SUCCEEDED, finished_at=timezone.now())
job.fine_tuned_model = job.model_name
job.save()
print("JOB", job.fine_tuned_model, job.output_dir)
"""


def make_adapter(model_name: str, cache_dir: Path, target: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from localtuner.engine import load_base

    torch.manual_seed(0)
    model, _ = load_base(model_name, cache_dir=cache_dir, device="cpu")
    config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        init_lora_weights=False,  # B random too: the adapter changes the weights (an identity adapter would not)
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(0.5)
    peft_model.save_pretrained(str(target))


class Peer:
    """Plain transformers generate() on the same weights as the server serves."""

    def __init__(self, model_name: str, cache_dir: Path, adapter: Path | None):
        import warnings

        from localtuner.engine import load_base
        from localtuner.engine.data import encode_prompt

        self.model, self.tokenizer = load_base(model_name, cache_dir=cache_dir, device="cpu")
        if adapter is not None:
            from peft import PeftModel

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                self.model = PeftModel.from_pretrained(self.model, str(adapter)).merge_and_unload()
        self.model.eval()
        self.ids = encode_prompt(self.tokenizer, PROMPT)

    def run(self) -> dict:
        import torch

        from localtuner.engine.inference import _stop_ids

        inputs = torch.tensor([self.ids])
        started = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(
                inputs,
                attention_mask=torch.ones_like(inputs),
                max_new_tokens=TOKENS,
                do_sample=False,
                eos_token_id=sorted(_stop_ids(self.tokenizer, self.model)),
                pad_token_id=self.tokenizer.pad_token_id,
            )
        elapsed = time.perf_counter() - started
        new = out[0, len(self.ids) :].tolist()
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return {"tokens": len(new), "seconds": elapsed, "text": text}


def stream(base: str, model: str) -> dict:
    body = {
        "model": model,
        "messages": PROMPT,
        "max_tokens": TOKENS,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    pieces: list[str] = []
    arrivals: list[float] = []
    usage: dict = {}
    first = None
    started = time.perf_counter()
    with (
        httpx.Client(base_url=base, timeout=600) as client,
        client.stream(
            "POST", "/local/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
        ) as response,
    ):
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.read()[:300]!r}")
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices", []):
                text = choice.get("delta", {}).get("content")
                if text:
                    if first is None:
                        first = time.perf_counter() - started
                    pieces.append(text)
                    arrivals.append(time.perf_counter())
    elapsed = time.perf_counter() - started
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    return {
        "tokens": usage.get("completion_tokens", 0),
        "seconds": elapsed,
        "gap": statistics.median(gaps) if gaps else float("nan"),
        "ttft": first,
        "text": "".join(pieces),
        "pieces": len(pieces),
    }


def llama_cpp_figure(rounds: int) -> str:
    try:
        llama_cpp = importlib.import_module("llama_cpp")  # optional: no stubs, maybe not installed
    except ImportError:
        return "llama.cpp: llama-cpp-python is not installed (optional: pip install -r benchmarks/requirements-llama.txt)"
    from localtuner.engine.basemodels import gguf_location

    folder, name = gguf_location()
    llm = llama_cpp.Llama(
        model_path=str(folder / name), n_ctx=512, n_threads=len(os.sched_getaffinity(0)), verbose=False
    )
    rates, ttfts = [], []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        first, n = None, 0
        for chunk in llm.create_chat_completion(
            messages=PROMPT, max_tokens=TOKENS, temperature=0, stream=True
        ):
            if chunk["choices"][0]["delta"].get("content"):
                n += 1
                first = first or time.perf_counter() - started
        rates.append(n / (time.perf_counter() - started))
        ttfts.append(first or 0.0)
    return (
        f"llama.cpp {llama_cpp.__version__} (Q4_1 GGUF, same base): {statistics.median(rates[1:]):6.1f} tok/s"
        f"  TTFT warm {statistics.median(ttfts[1:]) * 1000:6.0f} ms  ({n} chunks)"
    )


def llama_cpp_in_a_child(rounds: int, tokens: int) -> str:
    """llama.cpp's figure from a child process: a llama.cpp build for another CPU dies with
    SIGILL (seen here: a wheel built on this machine, then "Illegal instruction" on its first
    call), which must not take the bench's own numbers with it."""
    child = subprocess.run(
        [sys.executable, __file__, "--llama-cpp-only", "--rounds", str(rounds), "--tokens", str(tokens)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if child.returncode == 0:
        return child.stdout.strip()
    how = f"signal {-child.returncode}" if child.returncode < 0 else f"exit code {child.returncode}"
    return (
        f"llama.cpp: the measurement died ({how}); its last output: {(child.stderr or child.stdout)[-300:]!r}"
    )


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> int:
    global TOKENS
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="SmolLM2-135M-Instruct")
    parser.add_argument("--rounds", type=int, default=5, help="warm requests per model (after the cold one)")
    parser.add_argument("--tokens", type=int, default=TOKENS, help="greedy tokens per request")
    parser.add_argument("--skip-llama-cpp", action="store_true")
    parser.add_argument("--llama-cpp-only", action="store_true", help=argparse.SUPPRESS)  # the child below
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "fineweb-model-cache")
    args = parser.parse_args()
    TOKENS = args.tokens
    if args.llama_cpp_only:
        print(llama_cpp_figure(args.rounds))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still stops the server

    data = Path(tempfile.mkdtemp(prefix="fineweb-infer-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        FINEWEB_DATA_DIR=str(data),
        FINEWEB_MODEL_CACHE_DIR=str(args.cache_dir),
        FINEWEB_LOCAL_API_KEY=KEY,
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="fineweb.settings",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run(manage + ["migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    made = subprocess.run(
        manage + ["shell", "-c", REGISTER.format(model=args.model)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    found = re.search(r"JOB (\S+) (\S+)", made.stdout)
    assert found is not None, made.stdout + made.stderr
    tuned_name, output_dir = found.group(1), Path(found.group(2))
    adapter = output_dir / "adapter"
    make_adapter(args.model, args.cache_dir, adapter)  # also builds the base model's cache once

    import torch

    print(
        f"{args.model}, {TOKENS} greedy tokens, {len(os.sched_getaffinity(0))} cores, torch threads "
        f"{torch.get_num_threads()}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"fine-tune: untrained non-zero LoRA adapter (r=8, seed 0, B halved) as {tuned_name}")
    try:
        with uvicorn_server(env, data, key=KEY, root=ROOT) as base:
            if base is None:
                return 1
            run_all(args, base, tuned_name, adapter)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return 0


def run_all(args, base: str, tuned_name: str, adapter) -> None:
    """The measurements against the running server at `base`."""
    print()
    for label, name, adapter_path in (("base", args.model, None), ("fine-tune", tuned_name, adapter)):
        peer = Peer(args.model, args.cache_dir, adapter_path)
        peer.run()  # warm the peer too
        served, plain = [stream(base, name)], []
        for _ in range(args.rounds):  # alternate, so both see the same machine
            plain.append(peer.run())
            served.append(stream(base, name))
        del peer
        same = all(s["text"] == plain[0]["text"] for s in served)
        server_rate = median([s["tokens"] / s["seconds"] for s in served[1:]])
        plain_rate = median([p["tokens"] / p["seconds"] for p in plain])
        print(
            f"{label:<10} /local/v1 stream {server_rate:6.1f} tok/s  TTFT cold {served[0]['ttft'] * 1000:6.0f} ms"
            f"  warm {median([s['ttft'] for s in served[1:]]) * 1000:5.0f} ms  ({served[1]['tokens']} tokens,"
            f" {served[1]['pieces']} chunks, {median([s['gap'] for s in served[1:]]) * 1000:4.1f} ms between chunks)"
        )
        print(
            f"{'':<10} plain generate() {plain_rate:6.1f} tok/s  ratio {server_rate / plain_rate:4.2f}x"
            f"  same greedy text: {'yes' if same else 'NO'}",
            flush=True,
        )
    pair: dict[str, dict] = {}

    def one(label: str, name: str) -> None:
        pair[label] = stream(base, name)

    workers = [
        threading.Thread(target=one, args=("base", args.model)),
        threading.Thread(target=one, args=("fine-tune", tuned_name)),
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(
        "side by side: "
        + ", ".join(
            f"{label} {r['tokens'] / r['seconds']:5.1f} tok/s (TTFT {r['ttft'] * 1000:4.0f} ms)"
            for label, r in pair.items()
        )
        + f", together {sum(r['tokens'] for r in pair.values()) / max(r['seconds'] for r in pair.values()):5.1f} tok/s"
    )
    if not args.skip_llama_cpp:
        print(llama_cpp_in_a_child(args.rounds, args.tokens))


if __name__ == "__main__":
    sys.exit(main())
