"""A regression's similar training examples: one TF-IDF index per training file and process."""

from __future__ import annotations

from evaluation import services
from fineweb.lib import diffing
from tests.evaluation.helpers import job_with_split, lines
from tests.factories import blob_from_lines


def test_the_index_is_built_once_per_file_and_answers_as_a_fresh_one(team):
    job = job_with_split(team)
    version = job.dataset_version
    prompts = [line["messages"][1]["content"] for line in lines(20)[:10]]
    services._training_index.cache_clear()
    first = services.similar_training_examples(version=version, prompt="Tell me about Hamburg number 11.")
    again = services.similar_training_examples(version=version, prompt="Munich, please")
    info = services._training_index.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    expected = [
        {"text": prompts[i], "score": s}
        for i, s in diffing.similar("Tell me about Hamburg number 11.", prompts)
    ]
    assert first == expected and first[0]["text"] == "Tell me about Hamburg number 1."
    assert again[0]["text"] == "Tell me about Munich number 2."
    # Another file (a new training split) is another entry; the old one is not reused for it.
    version.train_blob = blob_from_lines(lines(20)[10:])
    version.save()
    hits = services.similar_training_examples(version=version, prompt="Tell me about Hamburg number 11.")
    assert hits[0]["text"] == "Tell me about Hamburg number 11."
    assert services._training_index.cache_info().misses == 2


def test_the_cache_is_bounded(team):
    services._training_index.cache_clear()
    job = job_with_split(team)
    version = job.dataset_version
    for i in range(services.SIMILAR_INDEX_CACHE_SIZE + 3):
        version.train_blob = blob_from_lines(
            [*lines(3), {"messages": [{"role": "user", "content": f"x{i}"}]}]
        )
        version.save()
        services.similar_training_examples(version=version, prompt="Berlin")
    assert services._training_index.cache_info().currsize == services.SIMILAR_INDEX_CACHE_SIZE
