"""The lean training forward (engine/fasttrain.py) computes what peft + transformers compute.

With dropout off (eval mode) and in float32, both forwards must give the same loss, token
accuracy, DPO log-probabilities and LoRA gradients, to float32 rounding; the trainer uses the lean
one by default and the old one on request; its dropout drops what it says it drops.
"""

from __future__ import annotations

import json
from typing import cast

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from localtuner.engine import fasttrain
from localtuner.engine.data import Example, load_preference, pack_one_row
from localtuner.engine.losses import dpo_stats, sequence_logps, token_stats
from localtuner.engine.trainer import TrainingRun


def _run(make_spec, path, **overrides) -> TrainingRun:
    spec = make_spec(path, precision="fp32", validation_path=None, **overrides)
    return TrainingRun(spec, lambda level, message: None)


def _perturb_lora(run: TrainingRun, seed: int = 3) -> None:
    """peft starts B at zero (so A gets no gradient); give every factor a random value."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in run.trainable:
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)


def _grads(run: TrainingRun, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    for _, p in run.trainable:
        p.grad = None
    loss.backward()
    return {name: p.grad.clone() for name, p in run.trainable if p.grad is not None}


def test_the_trainer_uses_the_lean_forward_by_default_and_peft_on_request(make_spec, tmp_path):
    assert isinstance(_run(make_spec, tmp_path / "a").fast, fasttrain.LoraTrainForward)
    assert _run(make_spec, tmp_path / "b", fused_forward=False).fast is None


def test_supervised_loss_and_lora_gradients_equal_peft_in_float32(make_spec, tmp_path):
    run = _run(make_spec, tmp_path / "run")
    _perturb_lora(run)
    run.model.eval()  # dropout off: both forwards are then deterministic
    batch = run.batch_of(run.train_items[:8])
    lengths = {len(e.input_ids) for e in cast("list[Example]", run.train_items[:8])}
    assert batch.n_examples == 8 and len(lengths) > 1  # several packed examples of other lengths

    fused_loss, fused_correct, n = token_stats(run.model, batch, run.fast)
    fused = _grads(run, fused_loss / n)
    peft_loss, peft_correct, n_peft = token_stats(run.model, batch)
    peft = _grads(run, peft_loss / n_peft)

    assert n == n_peft and int(fused_correct) == int(peft_correct)
    assert float(fused_loss.detach()) == pytest.approx(float(peft_loss.detach()), rel=1e-5)
    assert set(fused) == set(peft) and len(peft) == 2 * 7 * run.model.config.num_hidden_layers
    for name in peft:
        assert float(peft[name].abs().max()) > 0, name  # every factor really gets a gradient
        assert torch.allclose(fused[name], peft[name], rtol=1e-4, atol=1e-6), name


def _preference_batch(tokenizer, tmp_path):
    rows = [
        {
            "input": {"messages": [{"role": "user", "content": f"Name a colour, number {i}."}]},
            "preferred_output": [{"role": "assistant", "content": "blue " * (i + 1)}],
            "non_preferred_output": [{"role": "assistant", "content": "a rock"}],
        }
        for i in range(4)
    ]
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pairs = load_preference(path, tokenizer, 512)
    return pack_one_row([e for p in pairs for e in (p.chosen, p.rejected)], tokenizer.pad_token_id)


def test_dpo_log_probabilities_with_and_without_the_adapter_equal_peft(make_spec, tokenizer, tmp_path):
    batch = _preference_batch(tokenizer, tmp_path)
    run = _run(make_spec, tmp_path / "run")
    _perturb_lora(run)
    run.model.eval()
    with torch.no_grad():
        policy = sequence_logps(run.model, batch, run.fast)
        reference = sequence_logps(run.model, batch, run.fast, adapter=False)
        peft_policy = sequence_logps(run.model, batch)
        with run.model.disable_adapter():
            peft_reference = sequence_logps(run.model, batch)
    assert not torch.allclose(policy, reference)  # the adapter changes the numbers ...
    assert torch.allclose(policy, peft_policy, rtol=1e-5, atol=1e-4)  # ... the same way in both
    assert torch.allclose(reference, peft_reference, rtol=1e-5, atol=1e-4)
    with torch.no_grad():
        fused_loss, fused_wins, pairs_n = dpo_stats(run.model, batch, 0.1, run.fast)
        peft_loss, peft_wins, _ = dpo_stats(run.model, batch, 0.1)
    assert pairs_n == 4 and int(fused_wins) == int(peft_wins)
    assert float(fused_loss) == pytest.approx(float(peft_loss), rel=1e-5)


def test_bf16_dpo_log_probabilities_are_within_the_precision_tolerance_of_fp32(
    make_spec, tokenizer, tmp_path
):
    """README "Precision": within 2% of fp32 and on average 0.05 nats per answer token."""
    batch = _preference_batch(tokenizer, tmp_path)
    fp32_run = _run(make_spec, tmp_path / "fp32")
    bf16_run = TrainingRun(
        make_spec(tmp_path / "bf16", precision="bf16", validation_path=None), lambda level, message: None
    )
    assert bf16_run.fast is not None and bf16_run.fast.dtype == torch.bfloat16
    for run in (fp32_run, bf16_run):
        _perturb_lora(run)
        run.model.eval()
    with torch.no_grad():
        fp32 = sequence_logps(fp32_run.model, batch)  # peft's forward, float32
        bf16 = sequence_logps(bf16_run.model, batch, bf16_run.fast)
    answer_tokens = torch.bincount(batch.segment_ids[batch.targets != -100], minlength=batch.n_examples)
    assert not torch.equal(bf16, fp32)
    assert torch.allclose(bf16, fp32, rtol=0.02, atol=0.0)
    assert float(((bf16 - fp32).abs() / answer_tokens).mean()) < 0.05


def test_training_without_dropout_gives_peft_s_loss_curve(make_spec, recorder_class, tmp_path):
    curves: dict[str, list[float]] = {}
    for name, use_fused in (("fused", True), ("peft", False)):
        recorder = recorder_class()
        spec = make_spec(
            tmp_path / name, precision="fp32", validation_path=None, fused_forward=use_fused, lora_dropout=0.0
        )
        assert recorder.run(spec).status == "succeeded"
        curves[name] = [m.train_loss for m in recorder.metrics]
    fused, peft = curves["fused"], curves["peft"]
    assert len(fused) == len(peft) == 96 and fused[-1] < 0.1 * fused[0]
    for a, b in zip(peft, fused, strict=True):  # 96 optimizer steps later: the same curve
        assert b == pytest.approx(a, rel=1e-3, abs=1e-4)


def test_training_with_dropout_is_reproducible_and_learns(make_spec, recorder_class, tmp_path):
    runs = []
    for name, dropout in (("first", 0.05), ("again", 0.05), ("no dropout", 0.0)):
        recorder = recorder_class()
        spec = make_spec(tmp_path / name, precision="fp32", n_epochs=2, lora_dropout=dropout)
        assert recorder.run(spec).status == "succeeded"
        runs.append(recorder.metrics)
    first, again, undropped = runs
    assert [m.train_loss for m in first] == [m.train_loss for m in again]  # same seed, same masks
    assert [m.train_loss for m in first] != [m.train_loss for m in undropped]  # dropout did act
    valid = [m.valid_loss for m in first if m.valid_loss is not None]
    assert valid[-1] < 0.5 * valid[0]


def test_a_model_with_lora_on_only_some_projections_keeps_peft(make_spec, tmp_path, monkeypatch):
    run = _run(make_spec, tmp_path / "run")
    assert fasttrain.supports(run.model)
    layer = run.model.get_base_model().model.layers[0]
    monkeypatch.setattr(layer.mlp, "down_proj", layer.mlp.down_proj.base_layer)  # no LoRA there
    assert not fasttrain.supports(run.model)
    assert not fasttrain.supports(run.model.get_base_model())  # not a peft model at all


@settings(max_examples=40, deadline=None)
@given(
    p=st.floats(min_value=0.0, max_value=0.9),
    rows=st.integers(min_value=1, max_value=64),
    cols=st.integers(min_value=1, max_value=700),
    seed=st.integers(min_value=0, max_value=2**31),
    dtype=st.sampled_from([torch.float32, torch.bfloat16]),
)
def test_dropout_drops_about_p_and_scales_what_it_keeps(p, rows, cols, seed, dtype):
    x = (torch.rand(rows, cols) + 0.5).to(dtype).requires_grad_()  # no zeros of its own
    torch.manual_seed(seed)
    y = fasttrain._dropout(x, p)
    cut = round(p * 65536)
    p_eff = cut / 65536
    dropped = y == 0
    kept = ~dropped
    assert y.dtype == dtype and y.shape == x.shape
    expected = (x.detach().float() * (65536 / (65536 - cut))).to(dtype)
    assert torch.equal(y.detach()[kept], expected[kept])
    n = x.numel()
    if cut == 0:
        assert not dropped.any()
    else:  # a binomial count: within 6 standard deviations (+1 for the smallest tensors)
        sd = (n * p_eff * (1 - p_eff)) ** 0.5
        assert abs(int(dropped.sum()) - n * p_eff) <= 6 * sd + 1
    y.float().sum().backward()
    assert x.grad is not None
    grad = x.grad.float()
    assert torch.all(grad[dropped] == 0)
    assert torch.allclose(grad[kept], torch.full_like(grad[kept], 1 / (1 - p_eff)), rtol=1e-2)
    torch.manual_seed(seed)
    assert torch.equal(fasttrain._dropout(x.detach(), p), y.detach())  # seeded: the same mask


def test_dropout_of_one_drops_everything():
    x = torch.rand(3, 40) + 0.5
    assert torch.equal(fasttrain._dropout(x, 1.0), torch.zeros_like(x))
