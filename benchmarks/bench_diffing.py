"""Similar training examples for a regression (`fineweb.lib.diffing.TextIndex`) over 100,000
texts, and the word-level difference of two replies, against peers measured in the same run:

- similarity: the same TF-IDF cosine written plainly (a dictionary per text, one dot product per
  text in Python, vectors prepared beforehand), for one query; both must find the same texts;
- word_diff: difflib letter by letter on the same two replies (what a character diff costs).

Prints numbers and ratios; never fails.

    python benchmarks/bench_diffing.py [--texts 100000] [--queries 20]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()

    import difflib

    from fineweb.lib import diffing

    rng = random.Random(3)
    vocabulary = [f"w{i}" for i in range(5000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf-like: a few very common words

    def sentence(words: int) -> str:
        return " ".join(rng.choices(vocabulary, weights=weights, k=words))

    corpus = [sentence(rng.randint(10, 60)) for _ in range(args.texts)]
    queries = [sentence(40) for _ in range(args.queries)]
    print(f"{args.texts} texts of 10-60 words, {args.queries} queries of 40 words")

    start = time.perf_counter()
    index = diffing.TextIndex(corpus)
    build = time.perf_counter() - start
    print(f"  TextIndex build:                   {build:8.2f} s   ({index.terms} terms)")
    times = []
    for text in queries:
        start = time.perf_counter()
        index.similar(text, k=3)
        times.append(time.perf_counter() - start)
    query_ms = statistics.median(times) * 1000
    print(f"  TextIndex.similar, median query:   {query_ms:8.1f} ms")

    # The plain way: every text as a dictionary of weights, a Python dot product per text.
    docs = [Counter(diffing._features(text)) for text in corpus]
    df = Counter(term for doc in docs for term in doc)
    idf = {term: math.log((1 + len(docs)) / (1 + n)) + 1 for term, n in df.items()}

    def vector(counts: Counter[str]) -> dict[str, float]:
        v = {t: (1 + math.log(c)) * idf[t] for t, c in counts.items() if t in idf}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {t: x / norm for t, x in v.items()}

    vectors = [vector(doc) for doc in docs]
    q = vector(Counter(diffing._features(queries[0])))
    start = time.perf_counter()
    scores = [sum(w * q[t] for t, w in v.items() if t in q) for v in vectors]
    plain_top = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:3]
    plain = time.perf_counter() - start
    ours_top = [i for i, _ in index.similar(queries[0], k=3)]
    print(
        f"  plain dictionary TF-IDF, one query:{plain * 1000:8.1f} ms   speed-up: {plain * 1000 / query_ms:6.0f}x"
        f"   same top 3: {ours_top == plain_top}"
    )

    a = sentence(500)
    words = a.split()
    for _ in range(40):  # change 40 words, as a fine-tune's reply differs from its base's
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
    b = " ".join(words)
    start = time.perf_counter()
    for _ in range(10):
        pieces = diffing.word_diff(a, b)
    ours_diff = (time.perf_counter() - start) / 10
    start = time.perf_counter()
    difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    letters = time.perf_counter() - start
    print(
        f"  word_diff, two replies of 500 words: {ours_diff * 1000:6.1f} ms ({len(pieces)} pieces)"
        f"   difflib letter by letter: {letters * 1000:8.1f} ms   ratio {letters / ours_diff:6.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
