"""Fixtures for the local engine tests: the tiny model only (never the 135M one)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

FOODS = {
    "red": "apple",
    "yellow": "banana",
    "green": "lime",
    "purple": "grape",
    "orange": "carrot",
    "brown": "bread",
}
SYSTEM = "Name a food of the given color."


def food_example(color: str) -> dict:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": color},
            {"role": "assistant", "content": FOODS[color]},
        ]
    }


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """Model cache shared by the whole session (FINEWEB_TEST_MODEL_CACHE reuses one across runs)."""
    shared = os.environ.get("FINEWEB_TEST_MODEL_CACHE")
    return Path(shared) if shared else tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def tokenizer(cache_dir):
    from localtuner.engine.basemodels import load_tokenizer

    return load_tokenizer("fineweb-tiny", cache_dir=cache_dir)


@pytest.fixture(scope="session")
def food_files(tmp_path_factory) -> tuple[Path, Path]:
    """A fixed colour -> food mapping: 48 training lines, the 6 pairs as validation."""
    d = tmp_path_factory.mktemp("food")
    colors = list(FOODS)
    train = write_jsonl(d / "train.jsonl", [food_example(colors[i % len(colors)]) for i in range(48)])
    valid = write_jsonl(d / "valid.jsonl", [food_example(c) for c in colors])
    return train, valid


def food_spec(food_files, cache_dir, output_dir: Path, **overrides):
    from localtuner.engine import TrainSpec

    train, valid = food_files
    settings = dict(
        base_model="fineweb-tiny",
        method="supervised",
        training_path=train,
        validation_path=valid,
        output_dir=output_dir,
        cache_dir=cache_dir,
        n_epochs=8,
        batch_size=4,
        learning_rate_multiplier=20.0,
        eval_every=12,
        seed=7,
    )
    settings.update(overrides)
    return TrainSpec(**settings)


class Recorder:
    def __init__(self, fail_at_step: int | None = None, cancel_after: int | None = None):
        self.metrics: list = []
        self.checkpoints: list = []
        self.events: list = []
        self.fail_at_step = fail_at_step
        self.cancel_after = cancel_after

    def on_metrics(self, m):
        if self.fail_at_step is not None and m.step == self.fail_at_step:
            raise KeyboardInterrupt(f"simulated crash at step {m.step}")
        self.metrics.append(m)

    def on_checkpoint(self, c):
        self.checkpoints.append(c)

    def on_event(self, level, message):
        self.events.append((level, message))

    def should_cancel(self):
        return (
            self.cancel_after is not None
            and bool(self.metrics)
            and self.metrics[-1].step >= self.cancel_after
        )

    def run(self, spec):
        from localtuner.engine import train

        return train(
            spec,
            on_metrics=self.on_metrics,
            on_checkpoint=self.on_checkpoint,
            should_cancel=self.should_cancel,
            on_event=self.on_event,
        )


@pytest.fixture(scope="session")
def trained(food_files, cache_dir, tmp_path_factory):
    """One full supervised run on the food task, shared by the training and inference tests."""
    recorder = Recorder()
    result = recorder.run(food_spec(food_files, cache_dir, tmp_path_factory.mktemp("run")))
    return recorder, result


@pytest.fixture(scope="session")
def make_spec(food_files, cache_dir):
    """make_spec(output_dir, **overrides) -> TrainSpec for the food task."""
    return lambda output_dir, **overrides: food_spec(food_files, cache_dir, output_dir, **overrides)


@pytest.fixture(scope="session")
def recorder_class():
    return Recorder
