"""Token counts: the cookbook's per-message rule, with both encodings, and the caches stay exact."""

from __future__ import annotations

import random

import bpe_openai
import pytest

from datasets_app.tokens import MessageCounter, raw_counter


def test_a_german_sentence_has_the_token_count_of_the_o200k_vocabulary():
    assert MessageCounter("o200k_base").text("Hallo Welt, wie geht es dir?") == 8


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_counts_match_the_encoders_own_encode(encoding):
    enc = bpe_openai.get_encoding(encoding)
    counter = MessageCounter(encoding)
    for text in ["", "a", "Hallo Welt", "Grüße aus Köln 😀 — 12345 tokens?", "def f(x):\n    return x  # ok"]:
        assert counter.text(text) == len(enc.encode(text))


def test_an_example_is_counted_like_openais_cookbook():
    enc = bpe_openai.get_encoding("o200k_base")
    messages = [
        {"role": "system", "content": "Answer in German."},
        {"role": "user", "content": "Hallo Welt, wie geht es dir?", "name": "anna"},
        {"role": "assistant", "content": "Mir geht es gut."},
    ]
    expected = 3  # reply priming
    for m in messages:
        expected += 3 + sum(len(enc.encode(v)) for v in m.values())
        expected += 1 if "name" in m else 0
    assert MessageCounter("o200k_base").messages(messages) == expected
    # By hand: 3 + (3+1+4) + (3+1+8+1+1) + (3+1+5) = 34 (system 4, "anna" 1, answer 5 tokens)
    assert expected == 34


def test_gpt35_models_count_with_cl100k_and_gpt4o_with_o200k():
    from datasets_app.costs import model_spec

    assert model_spec("gpt-3.5-turbo").encoding == "cl100k_base"
    assert model_spec("gpt-4o-mini-2024-07-18").encoding == "o200k_base"
    assert model_spec("gpt-4.1-mini").encoding == "o200k_base"


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_the_counter_gives_exactly_the_tokenizers_count_on_awkward_text_cached_or_not(encoding):
    rng = random.Random(3)
    pieces = list("abcXYZ0123456789.,;:!?'\"-_()/\\\n\t") + [
        "ä",
        "ß",
        "中文",
        "😀",
        "\u00a0",
        "'s",
        "'LL",
        "  ",
        "\r\n",
        " \n",
        "\u0301",
        "12345",
        "http://a.b/c",
    ]
    counter, raw = MessageCounter(encoding), raw_counter(encoding)
    for _ in range(3000):
        words = [
            "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 25))
        ]
        text = " ".join(words)
        assert counter.text(text) == raw(text), repr(text)
        assert counter.text(text) == raw(text), "and again, from the cache"


def test_simple_examples_take_the_fast_path_with_the_same_count():
    counter = MessageCounter("o200k_base")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Wie spät ist es bitte jetzt gerade?"},
        {"role": "assistant", "content": "Es ist genau zwölf Uhr mittags in Berlin."},
    ]
    simple = counter.simple(messages)
    assert simple is not None
    total, trained = simple
    assert total == MessageCounter("o200k_base").messages(messages)
    assert trained == counter.text("Es ist genau zwölf Uhr mittags in Berlin.")
    assert counter.simple([{"role": "user", "content": "no answer"}]) is None
    assert counter.simple([{"role": "assistant", "content": "x", "weight": 0}]) is None
