"""The fast serving path (localtuner/engine/fastdecode.py) against plain transformers generate().

Every comparison is on the tiny model, base and LoRA-merged, against a separately loaded copy of
the same weights run through `model.generate(do_sample=False)`.
"""

from __future__ import annotations

import threading
import warnings
from typing import cast

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localtuner.engine import StreamEnd, generate, generate_stream, load_base
from localtuner.engine.data import encode_prompt, normalise_messages
from localtuner.engine.fastdecode import FastLlama, supports
from localtuner.engine.inference import THREADS, LoadedModel, ModelCache, _Detokenizer, _stop_ids

PROMPTS = [
    [{"role": "user", "content": "Tell me a story."}],
    [{"role": "system", "content": "Answer in German."}, {"role": "user", "content": "Wie spät ist es?"}],
    [
        {"role": "system", "content": "Name a food of the given color."},
        {"role": "user", "content": "red"},
        {"role": "assistant", "content": "apple"},
        {"role": "user", "content": "yellow"},
    ],
    [{"role": "user", "content": 'Return JSON: {"name": "Bob", "age": 42} <script>alert(1)</script>'}],
]


@pytest.fixture(scope="module")
def adapter(trained):
    _, result = trained
    return result.adapter_path


@pytest.fixture(scope="module")
def talkative_adapter(cache_dir, tmp_path_factory):
    """A non-zero, untrained LoRA adapter on the tiny model: a second model that, like the base,
    talks until max_tokens (the food fine-tune ends its reply after a word or two, and how soon
    depends on every detail of its training)."""
    from peft import LoraConfig, get_peft_model

    from localtuner.engine.hyper import LORA_TARGETS

    torch.manual_seed(0)
    model, _ = load_base("fineweb-tiny", cache_dir=cache_dir, device="cpu")
    config = LoraConfig(r=8, lora_alpha=16, target_modules=LORA_TARGETS, init_lora_weights=False)
    target = tmp_path_factory.mktemp("talkative") / "adapter"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        get_peft_model(model, config).save_pretrained(str(target))
    return target


def reference_model(cache_dir, adapter_path):
    """A separate copy of the same weights, as transformers runs them."""
    model, tokenizer = load_base("fineweb-tiny", cache_dir=cache_dir, device="cpu")
    if adapter_path:
        from peft import PeftModel

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model = PeftModel.from_pretrained(model, str(adapter_path), is_trainable=False).merge_and_unload()
    model.eval()
    return model, tokenizer


def plain_generate(model, tokenizer, messages, max_new_tokens) -> list[int]:
    ids = encode_prompt(tokenizer, normalise_messages(messages, 0))
    inputs = torch.tensor([ids])
    with torch.inference_mode():
        out = model.generate(
            inputs,
            attention_mask=torch.ones_like(inputs),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=sorted(_stop_ids(tokenizer, model)),
            pad_token_id=tokenizer.pad_token_id,
        )
    return out[0, len(ids) :].tolist()


@pytest.fixture(scope="module", params=["base", "lora"])
def reference(request, cache_dir, adapter):
    adapter_path = adapter if request.param == "lora" else None
    model, tokenizer = reference_model(cache_dir, adapter_path)
    return request.param, adapter_path, model, tokenizer


def test_both_base_models_take_the_fast_path_and_share_the_modules_storage(cache_dir, adapter):
    cache = ModelCache(max_models=2)
    for adapter_path in (None, adapter):
        loaded = cache.get("fineweb-tiny", adapter_path, cache_dir)
        assert loaded.fast is not None and supports(loaded.model)
        layer = loaded.model.model.layers[0]
        fused = loaded.fast.layers[0]
        # the transformers modules' weights are row views of the fused matrices: nothing doubled
        assert layer.self_attn.q_proj.weight.data_ptr() == fused.wqkv.data_ptr()
        assert layer.mlp.gate_proj.weight.data_ptr() == fused.wgu.data_ptr()
        fresh, _ = load_base("fineweb-tiny", cache_dir=cache_dir, device="cpu")
        assert loaded.nbytes == sum(p.numel() * p.element_size() for p in fresh.parameters()) + sum(
            b.numel() * b.element_size() for b in fresh.buffers()
        )


@pytest.mark.parametrize("prompt", range(len(PROMPTS)))
def test_fast_greedy_tokens_equal_plain_generate_token_for_token(reference, prompt):
    _, _, model, tokenizer = reference
    messages = PROMPTS[prompt]
    expected = plain_generate(model, tokenizer, messages, 40)
    # FastLlama straight on the same module objects transformers just ran
    fast = FastLlama(model)
    ids = encode_prompt(tokenizer, normalise_messages(messages, 0))
    cache = fast.new_cache(len(ids) + 40)
    logits = fast.forward(ids, cache)
    got: list[int] = []
    eos = _stop_ids(tokenizer, model)
    while len(got) < 40:
        token = int(torch.argmax(logits))
        got.append(token)
        if token in eos:
            break
        logits = fast.forward([token], cache)
    assert got == expected
    # and transformers still gives the same after its weights became views of the fused ones
    assert plain_generate(model, tokenizer, messages, 40) == expected


@pytest.mark.parametrize("max_tokens", [1, 7, 40])
def test_engine_text_equals_plain_generate_for_base_and_fine_tune(cache_dir, reference, max_tokens):
    kind, adapter_path, model, tokenizer = reference
    cache = ModelCache(max_models=1)
    for messages in PROMPTS:
        expected = plain_generate(model, tokenizer, messages, max_tokens)
        result = generate(
            base_model="fineweb-tiny",
            adapter_path=adapter_path,
            messages=messages,
            max_tokens=max_tokens,
            temperature=0,
            cache_dir=cache_dir,
            cache=cache,
        )
        eos = _stop_ids(tokenizer, model)
        assert result.completion_tokens == len(expected)
        assert result.text == tokenizer.decode(
            [t for t in expected if t not in eos], skip_special_tokens=True
        )
        ended = bool(expected) and expected[-1] in eos
        assert result.finish_reason == ("stop" if ended else "length")
    if kind == "lora":  # the fine-tune learnt colour -> food and ends its answer itself
        food = generate(
            base_model="fineweb-tiny",
            adapter_path=adapter_path,
            messages=PROMPTS[2][:2],
            max_tokens=max(max_tokens, 7),
            temperature=0,
            cache_dir=cache_dir,
            cache=cache,
        )
        assert food.text == "apple" and food.finish_reason == "stop"


def test_a_stop_string_cuts_the_fast_output_where_plain_generate_text_has_it(cache_dir, reference):
    _, adapter_path, model, tokenizer = reference
    messages = PROMPTS[0]
    full = tokenizer.decode(plain_generate(model, tokenizer, messages, 40), skip_special_tokens=True)
    stop = full[9:14]
    kwargs = dict(
        base_model="fineweb-tiny",
        adapter_path=adapter_path,
        messages=messages,
        max_tokens=40,
        temperature=0,
        stop=["<never>", stop],
        cache_dir=cache_dir,
        cache=ModelCache(max_models=1),
    )
    if len(stop) < 5 or full.find(stop) < 0:
        pytest.skip("this reply is too short to cut")  # pragma: no cover
    result = generate(**kwargs)
    assert result.finish_reason == "stop" and result.text == full[: full.find(stop)]
    pieces = cast("list[str]", list(generate_stream(**kwargs))[:-1])
    assert "".join(pieces) == result.text


def test_the_fallback_forward_gives_the_same_text_as_the_fast_path(cache_dir, adapter):
    cache = ModelCache(max_models=1)
    kwargs = dict(
        base_model="fineweb-tiny",
        adapter_path=adapter,
        messages=PROMPTS[1],
        max_tokens=30,
        temperature=0,
        cache_dir=cache_dir,
        cache=cache,
    )
    fast = generate(**kwargs)
    loaded = cache.get("fineweb-tiny", adapter, cache_dir)
    key = cache.keys()[0]
    cache._items[key] = LoadedModel(
        key=key, model=loaded.model, tokenizer=loaded.tokenizer, device=loaded.device, nbytes=loaded.nbytes
    )
    assert cache._items[key].fast is None
    assert generate(**kwargs) == fast


def test_the_stream_yields_its_first_piece_while_the_generation_is_still_running(cache_dir):
    cache = ModelCache(max_models=1)
    stream = generate_stream(
        base_model="fineweb-tiny",
        adapter_path=None,
        messages=PROMPTS[0],
        max_tokens=400,
        temperature=0,
        cache_dir=cache_dir,
        cache=cache,
    )
    running_before = THREADS.running
    first = next(stream)
    assert isinstance(first, str) and first
    assert THREADS.running == running_before + 1  # generating, not finished
    second = next(stream)
    assert isinstance(second, str) and second
    stream.close()  # a client that goes away: the loop ends at once, the share is given back
    assert THREADS.running == running_before
    with pytest.raises(StopIteration):
        next(stream)


def test_two_streams_side_by_side_both_make_progress(cache_dir, talkative_adapter):
    adapter = talkative_adapter
    cache = ModelCache(max_models=2)
    events: list[tuple[str, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2)
    threads_seen: dict[str, set[int]] = {"base": set(), "tuned": set()}

    def run(name: str, adapter_path) -> None:
        stream = generate_stream(
            base_model="fineweb-tiny",
            adapter_path=adapter_path,
            messages=PROMPTS[0],
            max_tokens=300,
            temperature=0.7,
            seed=5,
            cache_dir=cache_dir,
            cache=cache,
        )
        barrier.wait()
        for item in stream:
            threads_seen[name].add(torch.get_num_threads())
            with lock:
                events.append((name, "end" if isinstance(item, StreamEnd) else "piece"))

    cache.get("fineweb-tiny", None, cache_dir)
    cache.get("fineweb-tiny", adapter, cache_dir)
    workers = [
        threading.Thread(target=run, args=("base", None)),
        threading.Thread(target=run, args=("tuned", adapter)),
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    order = [name for name, _ in events]
    ends = {name: events.index((name, "end")) for name in ("base", "tuned")}
    first = {name: order.index(name) for name in ("base", "tuned")}
    assert first["base"] < ends["tuned"] and first["tuned"] < ends["base"]
    # progress is interleaved, not one stream after the other
    switches = sum(1 for a, b in zip(order, order[1:], strict=False) if a != b)
    assert switches >= 4
    if THREADS.cores() >= 2:  # while both ran, each had its share of the cores, not all of them
        assert any(n <= THREADS.cores() // 2 for n in threads_seen["base"] | threads_seen["tuned"])


def test_two_streams_on_the_same_model_run_at_once_and_agree(cache_dir):
    cache = ModelCache(max_models=1)
    kwargs = dict(
        base_model="fineweb-tiny",
        adapter_path=None,
        messages=PROMPTS[0],
        max_tokens=60,
        temperature=0,
        cache_dir=cache_dir,
        cache=cache,
    )
    expected = generate(**kwargs)
    a, b = generate_stream(**kwargs), generate_stream(**kwargs)
    next(a), next(b)  # both hold a generation on the one cached model at the same time
    assert THREADS.running >= 2
    rest_a = [x for x in a if isinstance(x, StreamEnd)]
    rest_b = [x for x in b if isinstance(x, StreamEnd)]
    assert rest_a[0].text == rest_b[0].text == expected.text


def test_the_thread_count_is_given_back_after_a_generation(cache_dir):
    before = torch.get_num_threads()
    generate(
        base_model="fineweb-tiny",
        adapter_path=None,
        messages=PROMPTS[0],
        max_tokens=5,
        temperature=0,
        cache_dir=cache_dir,
        cache=ModelCache(max_models=1, threads=1),
    )
    assert torch.get_num_threads() == before


def test_the_cache_stays_bounded_over_many_models(cache_dir, adapter, tmp_path):
    import shutil

    copies = []
    for i in range(4):  # four distinct fine-tunes (same weights in different folders)
        target = tmp_path / f"adapter-{i}"
        shutil.copytree(adapter, target)
        copies.append(target)
    cache = ModelCache(max_models=2)
    for path in [None, *copies, None, copies[0]]:
        loaded = cache.get("fineweb-tiny", path, cache_dir)
        assert len(cache) <= 2
        assert cache.keys()[-1] == loaded.key
    one = cache.get("fineweb-tiny", None, cache_dir).nbytes
    by_bytes = ModelCache(max_models=10, max_bytes=2 * one + 1)
    for path in [None, *copies]:
        by_bytes.get("fineweb-tiny", path, cache_dir)
        assert len(by_bytes) <= 2


@pytest.fixture(scope="module")
def tiny_tokenizer(cache_dir):
    from localtuner.engine.basemodels import load_tokenizer

    return load_tokenizer("fineweb-tiny", cache_dir=cache_dir)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(
        alphabet=st.sampled_from(list("aé ü\nß{}\"'🙂日本語ab.,<>")) | st.characters(codec="utf-8"),
        max_size=40,
    ),
    junk=st.lists(st.integers(min_value=0, max_value=49151), max_size=12),
)
def test_incremental_detokenising_equals_decoding_the_whole(tiny_tokenizer, text, junk):
    ids = tiny_tokenizer.encode(text, add_special_tokens=False) + junk
    detok = _Detokenizer(tiny_tokenizer)
    seen = ""
    for token in ids:
        detok.add(token)
        assert detok.text.startswith(seen)  # text only grows: what was streamed stays true
        seen = detok.text
    assert detok.flush() == tiny_tokenizer.decode(ids, skip_special_tokens=True)


def test_stopping_a_chat_generation_ends_its_thread_long_before_max_tokens(settings, cache_dir):
    """What a client that goes away does (ChatStream's finally calls stop()): the thread ends."""
    from localtuner import chat
    from localtuner.services import ResolvedModel

    settings.FINEWEB_MODEL_CACHE_DIR = cache_dir
    params = dict(messages=PROMPTS[0], max_tokens=1900, temperature=0.8, top_p=1.0, stop=None, seed=1)
    generation = chat.Generation(ResolvedModel("fineweb-tiny", "fineweb-tiny", None), params).start()
    first = generation.get()
    assert isinstance(first, str) and first
    generation.stop()
    generation._thread.join(timeout=120)
    assert not generation._thread.is_alive()
    left = []
    while not generation._queue.empty():
        left.append(generation._queue.get())
    assert left[-1] is chat._END
    assert not any(isinstance(item, StreamEnd) for item in left)  # stopped, not finished
    assert len(left) < 1900


def test_interleaved_streams_on_one_thread_leave_gradients_on(cache_dir):
    """Two streams advanced in turn on one thread (as a test or a caller may do) must not leave
    grad mode off behind them: a training step on that thread afterwards still gets gradients."""
    cache = ModelCache(max_models=1)
    kwargs = dict(
        base_model="fineweb-tiny",
        adapter_path=None,
        messages=PROMPTS[0],
        max_tokens=8,
        temperature=0,
        cache_dir=cache_dir,
        cache=cache,
    )
    a, b = generate_stream(**kwargs), generate_stream(**kwargs)
    next(a), next(b)
    list(a)
    list(b)
    assert torch.is_grad_enabled()
    assert not torch.is_inference_mode_enabled()
