"""Serving from the base weights' own 4/8-bit codes (localtuner/engine/qgemv.py + fastdecode.Coded).

The shipped base is a Q4_1 GGUF dequantised to float32, so its weights are exactly
``d * q + m`` per block of 32. The tests build weights of that form the way llama.cpp's quantiser
does (``quantise_q4_1`` / ``quantise_q8_0`` below), check that the codes found rebuild them bit for
bit and that anything else is refused, and run a tiny model made of such weights, base and with a
LoRA adapter, through the real ``ModelCache`` against plain ``generate()`` on the same weights.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localtuner.engine import fastdecode, load_base, qgemv
from localtuner.engine.hyper import LORA_TARGETS
from localtuner.engine.inference import ModelCache

from .test_engine_fast_inference import PROMPTS, plain_generate, reference_model

# Only a machine without any C compiler skips: where one exists, the kernels must build and pass
# their self-check (a broken kernel fails these tests instead of skipping them).
pytestmark = pytest.mark.skipif(
    not (os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")), reason="no C compiler here"
)


def test_the_kernels_build_and_pass_their_self_check_here():
    assert qgemv.available(), qgemv.unavailable_reason()


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return set(
        next((line.split(":")[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    )


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the portable builds are x86-64 ones")
@pytest.mark.parametrize("march, simd", [("x86-64-v3", 256), ("x86-64", 0)])
def test_the_avx2_and_plain_builds_pass_the_same_self_check(march, simd):
    if simd and not {"avx2", "fma"} <= _cpu_flags():
        pytest.skip("this CPU cannot run an AVX2 build")
    lib = qgemv._compile(march)
    assert lib.qgemv_simd() == simd
    qgemv._self_check(lib)  # raises on a wrong code, scale or product


def quantise_q4_1(w: torch.Tensor) -> torch.Tensor:
    """llama.cpp's Q4_1 (half-precision d = (max - min) / 15 and m = min per block of 32),
    dequantised back to float32 the way the GGUF loader does (d * q + m)."""
    out, inn = w.shape
    blocks = w.reshape(out, inn // 32, 32)
    low, high = blocks.amin(-1), blocks.amax(-1)
    d = ((high - low) / 15).half().float()
    m = low.half().float()
    q = ((blocks - m[..., None]) / torch.where(d == 0, 1, d)[..., None]).round().clamp(0, 15)
    return torch.addcmul(m[..., None], d[..., None], q).reshape(out, inn)


def quantise_q8_0(w: torch.Tensor) -> torch.Tensor:
    out, inn = w.shape
    blocks = w.reshape(out, inn // 32, 32)
    d = (blocks.abs().amax(-1) / 127).half().float()
    q = (blocks / torch.where(d == 0, 1, d)[..., None]).round().clamp(-127, 127)
    return (q * d[..., None]).reshape(out, inn)


def rebuilt(packed) -> torch.Tensor:
    """The float32 weights a packed matrix stands for (its product with the identity)."""
    return packed(torch.eye(packed.shape[1])).T


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(1, 9),
    blocks=st.integers(1, 4),
    scale=st.sampled_from([1e-4, 0.02, 1.0, 300.0]),
    seed=st.integers(0, 2**31 - 1),
    constant_block=st.booleans(),
)
def test_quantised_weights_are_found_exactly_and_multiply_like_float32(
    rows, blocks, scale, seed, constant_block
):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, 32 * blocks, generator=g) * scale
    if constant_block:
        w[0, :32] = w[0, 0]  # d = 0: every code is 0
    for quantise, pack in ((quantise_q4_1, qgemv.pack_q4), (quantise_q8_0, qgemv.pack_q8)):
        exact = quantise(w)
        packed = pack(exact)
        assert packed is not None
        assert torch.equal(rebuilt(packed), exact)  # the very float32 weights, bit for bit
        x = torch.randn(3, exact.shape[1], generator=g)
        # float32 summed in another order: within float32 rounding of the sum of |w * x|
        bound = 1e-5 * (x.abs() @ exact.abs().T) + 1e-30
        assert ((packed(x) - F.linear(x, exact)).abs() <= bound).all()


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
    nudge=st.sampled_from([0.0, 1e-7, 1e-3]),
)
def test_weights_that_are_not_codes_are_refused_never_approximated(rows, seed, nudge):
    g = torch.Generator().manual_seed(seed)
    exact = quantise_q4_1(torch.randn(rows, 64, generator=g))
    changed = exact.clone()
    changed[rows - 1, 5] = torch.nextafter(changed[rows - 1, 5], torch.tensor(9.0)) + nudge
    for w in (torch.randn(rows, 64, generator=g), changed):
        packed = qgemv.pack_q4(w)
        assert packed is None or torch.equal(rebuilt(packed), w)
    assert qgemv.pack_q4(torch.randn(4, 48)) is None  # not a multiple of 32 inputs
    assert qgemv.pack_q8(torch.randn(4, 64)) is None


@pytest.fixture(scope="module")
def coded_cache(cache_dir, tmp_path_factory):
    """A model cache folder whose fineweb-tiny has Q4_1 layers and a Q8_0 embedding (tied LM
    head), like the shipped 135M model: the tiny model's own folder with those weights."""
    root = tmp_path_factory.mktemp("coded-models")
    model, _ = load_base("fineweb-tiny", cache_dir=cache_dir, device="cpu")
    with torch.no_grad():
        for layer in model.model.layers:
            for mod in (*vars(layer.self_attn)["_modules"].values(), *vars(layer.mlp)["_modules"].values()):
                if isinstance(mod, torch.nn.Linear):
                    mod.weight.copy_(quantise_q4_1(mod.weight))
        model.model.embed_tokens.weight.copy_(quantise_q8_0(model.model.embed_tokens.weight))
        if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
            model.lm_head.weight.copy_(quantise_q8_0(model.lm_head.weight))
    target = root / "fineweb-tiny"
    shutil.copytree(Path(cache_dir) / "fineweb-tiny", target)
    model.save_pretrained(str(target))
    return root


def _adapter(coded_cache, tmp_path_factory, **ranks):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model, _ = load_base("fineweb-tiny", cache_dir=coded_cache, device="cpu")
    config = LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS, init_lora_weights=False, **ranks)
    target = tmp_path_factory.mktemp("coded-lora") / "adapter"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        get_peft_model(model, config).save_pretrained(str(target))
    return target


@pytest.fixture(scope="module")
def coded_adapter(coded_cache, tmp_path_factory):
    return _adapter(coded_cache, tmp_path_factory)


@pytest.fixture(scope="module")
def mixed_rank_adapter(coded_cache, tmp_path_factory):
    """k and up with rank 2, the rest 4: their fused products need the block-diagonal form."""
    return _adapter(coded_cache, tmp_path_factory, rank_pattern={"k_proj": 2, "up_proj": 2})


def _fast_greedy(fast, tokenizer, messages, n):
    from localtuner.engine.data import encode_prompt, normalise_messages

    ids = encode_prompt(tokenizer, normalise_messages(messages, 0))
    cache = fast.new_cache(len(ids) + n)
    logits, got = fast.forward(ids, cache), list[int]()
    while len(got) < n:
        got.append(int(torch.argmax(logits)))
        logits = fast.forward([got[-1]], cache)
    return got


@pytest.mark.parametrize("kind", ["base", "lora", "lora-mixed-ranks"])
def test_coded_model_serves_the_greedy_tokens_of_plain_generate(
    coded_cache, coded_adapter, mixed_rank_adapter, kind
):
    adapter = {"base": None, "lora": coded_adapter, "lora-mixed-ranks": mixed_rank_adapter}[kind]
    loaded = ModelCache(max_models=1).get("fineweb-tiny", adapter, coded_cache)
    fast = loaded.fast
    assert fast is not None and fast.lm_head_codes is not None  # served from the codes
    assert fast._step is not None  # one token = one call of the whole-step kernel
    first = fast.layers[0]
    assert all(p is not None for p in (first.pqkv, first.po, first.pgu, first.pdown))
    assert first.pqkv is not None
    assert (first.pqkv.a is not None) == (kind != "base")  # the fine-tune's LoRA stays low-rank
    # one rank: B stacked with the projections' row bounds; mixed ranks: the block diagonal
    assert (first.pqkv.bounds is not None) == (kind == "lora")
    assert fast.codes_nbytes > 0 and loaded.nbytes > sum(p.numel() * 4 for p in loaded.model.parameters())
    model, tokenizer = reference_model(coded_cache, adapter)
    plain_fast = fastdecode.FastLlama(reference_model(coded_cache, adapter)[0], codes=False)
    for messages in PROMPTS:
        expected = plain_generate(model, tokenizer, messages, 48)
        got = _fast_greedy(fast, tokenizer, messages, len(expected))
        assert got == expected
        assert _fast_greedy(plain_fast, tokenizer, messages, len(expected)) == expected
    # one step's logits: the codes (plus LoRA) against float32 on the same (merged) weights
    ids = list(range(10, 30))
    a, b = fast.new_cache(24), plain_fast.new_cache(24)
    fast.forward(ids, a), plain_fast.forward(ids, b)
    one, two = fast.forward([7], a), plain_fast.forward([7], b)
    assert torch.allclose(one, two, rtol=1e-4, atol=1e-4 * float(two.abs().max()))


def test_weights_that_are_not_codes_keep_the_float32_path(cache_dir):
    loaded = ModelCache(max_models=1).get("fineweb-tiny", None, cache_dir)
    assert loaded.fast is not None and loaded.fast.lm_head_codes is None and loaded.fast.codes_nbytes == 0


def test_no_compiler_means_float32_serving_and_a_logged_reason(tmp_path):
    code = (
        "from localtuner.engine import qgemv;"
        "print(qgemv.available(), qgemv.pack_q4(__import__('torch').zeros(2, 32)), qgemv.unavailable_reason())"
    )
    env = {**os.environ, "CC": str(tmp_path / "no-such-cc"), "FINEWEB_MODEL_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    available, packed, reason = out.stdout.strip().split(" ", 2)
    assert (available, packed) == ("False", "None")
    assert "no-such-cc" in reason
