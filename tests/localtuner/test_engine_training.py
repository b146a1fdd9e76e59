import json
import math

import pytest

from localtuner.engine import generate
from localtuner.engine.checkpoints import RESULT_CSV_HEADER
from localtuner.engine.inference import ModelCache

FOODS = {
    "red": "apple",
    "yellow": "banana",
    "green": "lime",
    "purple": "grape",
    "orange": "carrot",
    "brown": "bread",
}


def answers(cache_dir, adapter_path):
    cache = ModelCache(max_models=1)
    return {
        color: generate(
            base_model="fineweb-tiny",
            adapter_path=adapter_path,
            cache_dir=cache_dir,
            cache=cache,
            messages=[
                {"role": "system", "content": "Name a food of the given color."},
                {"role": "user", "content": color},
            ],
            temperature=0,
            max_tokens=6,
        ).text
        for color in FOODS
    }


def test_training_succeeds_and_writes_a_peft_adapter(trained):
    _, result = trained
    assert result.status == "succeeded"
    assert result.steps == result.total_steps == 8 * 12
    assert (result.adapter_path / "adapter_config.json").is_file()
    assert (result.adapter_path / "adapter_model.safetensors").is_file()
    assert result.trained_tokens == result.metrics.tokens_seen > 0


def test_it_learns_validation_loss_falls(trained):
    recorder, _ = trained
    valid = [m.valid_loss for m in recorder.metrics if m.valid_loss is not None]
    assert recorder.metrics[0].valid_loss is not None and recorder.metrics[-1].valid_loss is not None
    assert valid[-1] < 0.25 * valid[0]
    assert recorder.metrics[-1].valid_mean_token_accuracy > 0.9


def test_it_learns_the_fine_tuned_model_answers_better_than_its_base(trained, cache_dir):
    _, result = trained
    base = answers(cache_dir, None)
    tuned = answers(cache_dir, result.adapter_path)
    base_right = sum(base[c].strip() == FOODS[c] for c in FOODS)
    tuned_right = sum(tuned[c].strip() == FOODS[c] for c in FOODS)
    assert base_right == 0
    assert tuned_right >= 5, tuned


def test_metrics_are_reported_every_step_in_order(trained):
    recorder, result = trained
    steps = [m.step for m in recorder.metrics]
    assert steps == list(range(1, result.total_steps + 1))
    assert all(m.total_steps == result.total_steps for m in recorder.metrics)
    assert [m.epoch for m in recorder.metrics[::12]] == list(range(1, 9))
    tokens = [m.tokens_seen for m in recorder.metrics]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)
    assert all(
        math.isfinite(m.train_loss) and 0 <= m.train_mean_token_accuracy <= 1 for m in recorder.metrics
    )
    evaluated = [m.step for m in recorder.metrics if m.valid_loss is not None]
    assert evaluated == [1] + list(range(12, result.total_steps + 1, 12))


def test_a_checkpoint_is_saved_at_the_end_of_every_epoch(trained):
    recorder, _ = trained
    assert [c.step for c in recorder.checkpoints] == [12 * e for e in range(1, 9)]
    assert [c.epoch for c in recorder.checkpoints] == list(range(1, 9))
    for c in recorder.checkpoints:
        assert (c.path / "adapter_model.safetensors").is_file()
        assert c.metrics.step == c.step


def test_events_describe_the_run(trained):
    recorder, _ = trained
    messages = [m for _, m in recorder.events]
    assert messages[0].startswith("Loaded base model fineweb-tiny in ")
    assert "Epoch 1/8" in messages and "Epoch 8/8" in messages
    assert messages[-1].startswith("Training finished")


def test_result_csv_has_openai_columns_and_one_row_per_step(trained):
    recorder, result = trained
    lines = result.result_csv.strip().split("\n")
    assert (
        lines[0] == RESULT_CSV_HEADER == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    )
    assert len(lines) == 1 + result.steps
    first = lines[1].split(",")
    assert first[0] == "1" and float(first[1]) == pytest.approx(recorder.metrics[0].train_loss, abs=1e-5)
    assert lines[2].split(",")[3] == ""  # no validation at step 2


def test_cancel_stops_within_one_step(make_spec, recorder_class, tmp_path):
    recorder = recorder_class(cancel_after=2)
    result = recorder.run(make_spec(tmp_path, n_epochs=2))
    assert result.status == "cancelled"
    assert result.steps <= 3 and recorder.metrics[-1].step == result.steps
    assert result.adapter_path is None
    assert len(result.result_csv.strip().split("\n")) == 1 + result.steps


def test_resume_after_a_crash_continues_from_the_last_saved_state(make_spec, recorder_class, tmp_path):
    settings = dict(n_epochs=2, save_every_steps=5, save_every_s=3600, eval_every=6)
    reference = recorder_class()
    expected = reference.run(make_spec(tmp_path / "straight", **settings))

    crashed = recorder_class(fail_at_step=18)
    with pytest.raises(KeyboardInterrupt):
        crashed.run(make_spec(tmp_path / "crashy", **settings))
    assert [m.step for m in crashed.metrics] == list(range(1, 18))
    # Epoch checkpoint at 12, periodic state at 15 (17 was reported but not saved).
    assert (tmp_path / "crashy" / "resume" / "step-15" / "COMPLETE").is_file()

    resumed = recorder_class()
    result = resumed.run(make_spec(tmp_path / "crashy", **settings))
    assert result.status == "succeeded" and result.resumed_from_step == 15
    assert [m.step for m in resumed.metrics] == list(range(16, 25))
    assert result.steps == expected.steps == 24
    for a, b in zip(resumed.metrics, reference.metrics[15:], strict=True):
        assert a.step == b.step and a.tokens_seen == b.tokens_seen
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4, abs=1e-5)
    assert result.metrics.valid_loss == pytest.approx(expected.metrics.valid_loss, rel=1e-4, abs=1e-5)
    assert len(result.result_csv.strip().split("\n")) == 1 + 24
    assert [c.step for c in resumed.checkpoints] == [24]


def test_resume_ignores_state_from_different_settings(make_spec, recorder_class, tmp_path):
    first = recorder_class(fail_at_step=14)
    with pytest.raises(KeyboardInterrupt):
        first.run(make_spec(tmp_path, n_epochs=2))
    again = recorder_class()
    result = again.run(make_spec(tmp_path, n_epochs=2, seed=8))
    assert result.resumed_from_step == 0 and again.metrics[0].step == 1
    assert any(level == "warning" for level, _ in again.events)


def test_dpo_runs_and_reports_reward_accuracy(cache_dir, recorder_class, tmp_path):
    from localtuner.engine import TrainSpec

    rows = [
        {
            "input": {"messages": [{"role": "user", "content": color}]},
            "preferred_output": [{"role": "assistant", "content": food}],
            "non_preferred_output": [{"role": "assistant", "content": "stone"}],
        }
        for color, food in FOODS.items()
    ]
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows * 4), encoding="utf-8")
    valid = tmp_path / "prefs-valid.jsonl"
    valid.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recorder = recorder_class()
    result = recorder.run(
        TrainSpec(
            base_model="fineweb-tiny",
            method="dpo",
            training_path=path,
            validation_path=valid,
            output_dir=tmp_path / "out",
            cache_dir=cache_dir,
            n_epochs=3,
            batch_size=4,
            learning_rate_multiplier=10.0,
            eval_every=6,
        )
    )
    assert result.status == "succeeded" and result.steps == 18
    first, last = recorder.metrics[0], recorder.metrics[-1]
    # Step 1: the policy equals the reference (LoRA starts at zero): loss ln 2, no pair won yet.
    assert first.train_loss == pytest.approx(math.log(2), abs=1e-4)
    assert first.train_mean_token_accuracy == 0.0
    assert last.train_loss < 0.5 and last.train_mean_token_accuracy == 1.0
    assert last.valid_loss < 0.5 and last.valid_mean_token_accuracy == 1.0


def test_unknown_method_is_refused(make_spec, recorder_class, tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        recorder_class().run(make_spec(tmp_path, method="reinforcement"))
