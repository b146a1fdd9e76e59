from typing import cast

import pytest

from localtuner.engine import Generation, StreamEnd, UnknownModel, generate, generate_stream
from localtuner.engine.inference import ModelCache, _holdback

HELLO = [{"role": "user", "content": "Tell me a story."}]


@pytest.fixture(scope="module")
def cache():
    return ModelCache(max_models=2)


def run(cache_dir, cache, **kwargs):
    settings = dict(
        base_model="fineweb-tiny",
        adapter_path=None,
        messages=HELLO,
        max_tokens=24,
        temperature=0,
        cache_dir=cache_dir,
        cache=cache,
    )
    settings.update(kwargs)
    return settings


def test_greedy_generation_is_deterministic(cache_dir, cache):
    a = generate(**run(cache_dir, cache))
    b = generate(**run(cache_dir, cache))
    assert isinstance(a, Generation) and a == b
    assert a.prompt_tokens > 0 and a.completion_tokens == 24 and len(a.text) > 10


def test_sampling_with_a_seed_is_deterministic_and_seeds_differ(cache_dir, cache):
    a = generate(**run(cache_dir, cache, temperature=1.0, top_p=0.9, seed=3))
    b = generate(**run(cache_dir, cache, temperature=1.0, top_p=0.9, seed=3))
    c = generate(**run(cache_dir, cache, temperature=1.0, top_p=0.9, seed=4))
    assert a == b and a.text != c.text


@pytest.mark.parametrize("options", [dict(), dict(temperature=0.8, seed=11)])
def test_stream_pieces_concatenate_to_the_non_stream_text(cache_dir, cache, options):
    items = list(generate_stream(**run(cache_dir, cache, **options)))
    pieces, end = items[:-1], items[-1]
    assert isinstance(end, StreamEnd) and all(isinstance(p, str) and p for p in pieces)
    assert len(pieces) > 3
    whole = generate(**run(cache_dir, cache, **options))
    assert "".join(cast("list[str]", pieces)) == end.text == whole.text
    assert (end.completion_tokens, end.finish_reason) == (whole.completion_tokens, whole.finish_reason)


def test_max_tokens_ends_with_finish_reason_length(cache_dir, cache):
    g = generate(**run(cache_dir, cache, max_tokens=3))
    assert g.finish_reason == "length" and g.completion_tokens == 3


def test_stop_sequences_cut_the_text_even_across_token_boundaries(cache_dir, cache):
    full = generate(**run(cache_dir, cache)).text
    stop = full[6:12]
    assert len(stop) == 6
    cut = generate(**run(cache_dir, cache, stop=["never-there", stop]))
    assert cut.finish_reason == "stop"
    assert cut.text == full[: full.find(stop)]
    streamed = cast("list[str]", list(generate_stream(**run(cache_dir, cache, stop=stop)))[:-1])
    assert "".join(streamed) == cut.text and stop not in "".join(streamed)


def test_holdback_keeps_only_a_possible_stop_prefix():
    assert _holdback("hello wor", ["world"]) == 3
    assert _holdback("hello", ["world"]) == 0
    assert _holdback("abcab", ["abcabd"]) == 5


def test_the_cache_returns_the_same_model_for_the_same_key(cache_dir, trained):
    _, result = trained
    cache = ModelCache(max_models=2)
    a = cache.get("fineweb-tiny", None, cache_dir)
    assert cache.get("fineweb-tiny", None, cache_dir) is a
    tuned = cache.get("fineweb-tiny", result.adapter_path, cache_dir)
    assert tuned is not a and cache.get("fineweb-tiny", str(result.adapter_path), cache_dir) is tuned
    assert len(cache) == 2


def test_the_cache_evicts_the_least_recently_used_beyond_its_bound(cache_dir, trained):
    _, result = trained
    cache = ModelCache(max_models=1)
    base = cache.get("fineweb-tiny", None, cache_dir)
    cache.get("fineweb-tiny", result.adapter_path, cache_dir)
    assert len(cache) == 1 and cache.get("fineweb-tiny", None, cache_dir) is not base

    by_bytes = ModelCache(max_models=5, max_bytes=base.nbytes + 1)
    first = by_bytes.get("fineweb-tiny", None, cache_dir)
    by_bytes.get("fineweb-tiny", result.adapter_path, cache_dir)
    assert len(by_bytes) == 1 and by_bytes.keys()[0][1] == str(result.adapter_path.resolve())
    assert by_bytes.get("fineweb-tiny", None, cache_dir) is not first


def test_an_unknown_model_raises(cache_dir, cache):
    with pytest.raises(UnknownModel):
        generate(**run(cache_dir, cache, base_model="nope"))


def test_stream_errors_are_raised_by_the_call_before_any_piece(cache_dir, cache):
    with pytest.raises(UnknownModel):
        generate_stream(**run(cache_dir, cache, base_model="nope"))
    with pytest.raises(ValueError, match="role"):
        generate_stream(**run(cache_dir, cache, messages=[{"role": "robot", "content": "hi"}]))


def test_a_prompt_longer_than_the_context_is_refused(cache_dir, cache):
    with pytest.raises(ValueError, match="context"):
        generate(**run(cache_dir, cache, messages=[{"role": "user", "content": "word " * 2100}]))


def test_concurrent_generations_on_one_model_are_serialised(cache_dir, cache):
    from concurrent.futures import ThreadPoolExecutor

    expected = generate(**run(cache_dir, cache))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: generate(**run(cache_dir, cache)), range(4)))
    assert all(r == expected for r in results)
