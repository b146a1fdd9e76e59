"""fineweb.lib.diffing: word differences and TF-IDF similarity, by hand and by property."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fineweb.lib.diffing import TextIndex, similar, word_diff

# --- word_diff -----------------------------------------------------------------------------------


def _sides(pieces: list[tuple[str, str]]) -> tuple[str, str]:
    a = "".join(text for op, text in pieces if op in ("equal", "delete"))
    b = "".join(text for op, text in pieces if op in ("equal", "insert"))
    return a, b


def test_a_changed_phrase_is_one_deletion_and_one_insertion():
    pieces = word_diff("the cat sat on the mat.", "a dog sat on the mat!")
    assert pieces == [
        ("delete", "the cat"),
        ("insert", "a dog"),
        ("equal", " sat on the mat"),
        ("delete", "."),
        ("insert", "!"),
    ]


def test_words_not_letters_are_compared():
    pieces = word_diff("Hallo, wie geht es dir?", "Hallo, wie geht's dir heute?")
    assert pieces == [
        ("equal", "Hallo, wie geht"),
        ("delete", " es"),
        ("insert", "'s"),
        ("equal", " dir"),
        ("insert", " heute"),
        ("equal", "?"),
    ]
    # "colour" -> "color" is a changed word, not a deleted "u"
    assert word_diff("the colour red", "the color red") == [
        ("equal", "the "),
        ("delete", "colour"),
        ("insert", "color"),
        ("equal", " red"),
    ]


def test_cjk_text_is_compared_character_by_character():
    assert word_diff("我喜欢猫", "我喜欢狗") == [("equal", "我喜欢"), ("delete", "猫"), ("insert", "狗")]


def test_empty_and_identical_texts():
    assert word_diff("", "") == []
    assert word_diff("", "new text") == [("insert", "new text")]
    assert word_diff("old text", "") == [("delete", "old text")]
    assert word_diff("same\n  text", "same\n  text") == [("equal", "same\n  text")]


def test_markup_comes_back_as_written_for_the_template_to_escape():
    pieces = word_diff("<script>alert(1)</script>", "<b>bold</b>")
    assert _sides(pieces) == ("<script>alert(1)</script>", "<b>bold</b>")
    assert all("&lt;" not in text for _, text in pieces)


@given(a=st.text(max_size=80), b=st.text(max_size=80))
@settings(max_examples=200)
def test_word_diff_gives_both_texts_back_and_never_repeats_an_op(a, b):
    pieces = word_diff(a, b)
    assert _sides(pieces) == (a, b)
    assert all(op in ("equal", "delete", "insert") and text for op, text in pieces)
    for (first, _), (second, _) in zip(pieces, pieces[1:], strict=False):
        assert first != second
        assert (first, second) != ("insert", "delete")  # a change reads deletion first


words = st.sampled_from(["the", "model", "answers", "in", "German", "JSON", "tone", "brand", "short", "."])
sentences = st.lists(words, max_size=12).map(" ".join)


@given(a=sentences, b=sentences)
def test_word_diff_of_sentences_round_trips(a, b):
    assert _sides(word_diff(a, b)) == (a, b)


# --- similarity ----------------------------------------------------------------------------------


def test_similarity_by_hand():
    # corpus "a b", "a c"; N = 2. Features: words and word pairs.
    # df: a 2, b 1, "a b" 1, c 1, "a c" 1; idf = ln((1 + N) / (1 + df)) + 1: a 1, the others
    # ln(3/2) + 1 = 1.405465. Each text: (1, 1.405465, 1.405465), squared length
    # 1 + 2 * 1.975332 = 4.950664. The query "a b" is the first text (cosine 1); with the second it
    # shares only "a": 1 * 1 / 4.950664 = 0.201993.
    assert similar("a b", ["a b", "a c"]) == [(0, pytest.approx(1.0)), (1, pytest.approx(0.201993, abs=1e-6))]


def test_similar_finds_the_closest_training_example_whatever_the_case():
    corpus = [
        "How do I reset my password?",
        "Wie setze ich mein Passwort zurück?",
        "Reset the router to factory settings",
        "My password reset link expired",
        "",
    ]
    results = similar("I forgot my PASSWORD, how do I reset it", corpus, k=2)
    assert [index for index, _ in results] == [0, 3]
    assert 0 < results[1][1] < results[0][1] <= 1


def test_similar_leaves_out_texts_sharing_nothing_and_keeps_corpus_order_on_ties():
    assert similar("zebra", ["a b", "c d"]) == []
    assert similar("", ["a b"]) == []
    assert similar("a", []) == []
    assert similar("a", ["a"], k=0) == []
    assert [i for i, _ in similar("hello world", ["hello world"] * 5, k=3)] == [0, 1, 2]
    assert len(similar("a", ["a", "a b"], k=10)) == 2


def test_an_index_answers_many_queries():
    index = TextIndex(["answer in German", "return valid JSON", "keep the brand tone"])
    assert index.similar("valid JSON please", k=1)[0][0] == 1
    assert index.similar("German answer", k=1)[0][0] == 0


def _reference_cosines(query: str, corpus: list[str]) -> list[float]:
    """The same TF-IDF written out with dictionaries, one text at a time."""
    import re

    def features(text: str) -> Counter[str]:
        ws = re.findall(r"[^\W_]+", text.lower())
        return Counter(ws) + Counter(f"{x} {y}" for x, y in zip(ws, ws[1:], strict=False))

    docs = [features(text) for text in corpus]
    df = Counter(term for doc in docs for term in doc)
    idf = {term: math.log((1 + len(docs)) / (1 + n)) + 1 for term, n in df.items()}

    def vector(counts: Counter[str]) -> dict[str, float]:
        v = {t: (1 + math.log(c)) * idf[t] for t, c in counts.items() if t in idf}
        norm = math.sqrt(sum(x * x for x in v.values()))
        return {t: x / norm for t, x in v.items()} if norm else {}

    q = vector(features(query))
    return [sum(q[t] * w for t, w in vector(doc).items() if t in q) for doc in docs]


@given(corpus=st.lists(sentences, min_size=1, max_size=15), query=sentences, k=st.integers(1, 5))
@settings(max_examples=100, deadline=None)
def test_similar_agrees_with_a_plain_dictionary_tf_idf(corpus, query, k):
    expected = _reference_cosines(query, corpus)
    results = similar(query, corpus, k=k)
    ranked = sorted((i for i, score in enumerate(expected) if score > 1e-9), key=lambda i: (-expected[i], i))
    assert len(results) == min(k, len(ranked))
    for (index, score), _ in zip(results, ranked, strict=False):
        assert score == pytest.approx(expected[index], abs=1e-9)
        assert 0 < score <= 1
    assert [s for _, s in results] == pytest.approx([expected[i] for i in ranked[: len(results)]], abs=1e-9)
