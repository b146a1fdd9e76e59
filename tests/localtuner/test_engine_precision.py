"""Lower precision where the hardware does it fast, with the loss and DPO log-probabilities kept.

The tolerances stated here are the engine's promise (README "Precision"):
* supervised: bf16's final training loss within 2% of fp32's on the same steps, and every step's
  loss within 5% (the curves are the same curve);
* DPO: per-sequence log-probabilities (sums over the answer tokens) within 2% of fp32's, and on
  average within 0.05 nats per answer token.
"""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from localtuner.engine.basemodels import load_base
from localtuner.engine.data import load_preference, pack_one_row
from localtuner.engine.losses import sequence_logps
from localtuner.engine.precision import PRECISIONS, autocast, cpu_flags, needs_grad_scaler, pick_precision

# Flags as /proc/cpuinfo spells them: an AMX server, an AVX-512 BF16 one, and an older AVX-512 one.
SAPPHIRE_RAPIDS = {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8"}
ZEN4 = {"avx2", "avx512f", "avx512bw", "avx512_bf16"}
SKYLAKE = {"avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(SAPPHIRE_RAPIDS, "bf16"), (ZEN4, "bf16"), ({"amx_bf16"}, "bf16"), (SKYLAKE, "fp32"), (set(), "fp32")],
)
def test_cpu_precision_is_bf16_only_with_native_bf16_instructions(flags, expected):
    assert pick_precision("cpu", flags=flags) == expected
    assert pick_precision("cpu", "auto", flags=flags) == expected


def test_a_requested_precision_wins_but_fp16_is_gpu_only():
    assert pick_precision("cpu", "fp32", flags=SAPPHIRE_RAPIDS) == "fp32"
    assert pick_precision("cpu", "bf16", flags=SKYLAKE) == "bf16"
    assert pick_precision("cpu", "fp16", flags=SKYLAKE) == "fp32"
    assert pick_precision("cpu", "fp16", flags=ZEN4) == "bf16"
    assert pick_precision("cuda", "fp16", cuda_bf16=True) == "fp16"


def test_cuda_uses_bf16_where_the_gpu_has_it_else_fp16_with_a_grad_scaler():
    assert pick_precision("cuda", cuda_bf16=True) == "bf16"
    assert pick_precision("cuda:1", cuda_bf16=False) == "fp16"
    assert needs_grad_scaler("fp16") and not needs_grad_scaler("bf16") and not needs_grad_scaler("fp32")


@given(st.text(max_size=12).filter(lambda s: s not in PRECISIONS))
def test_an_unknown_precision_is_refused_with_the_choices(name):
    with pytest.raises(ValueError, match="fp32, bf16"):
        pick_precision("cpu", name, flags=SAPPHIRE_RAPIDS)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512_bf16 amx_tile\n\n"
        "processor\t: 1\nflags\t\t: fpu\n",
        encoding="utf-8",
    )
    assert cpu_flags(info) == {"fpu", "avx2", "avx512_bf16", "amx_tile"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_autocast_runs_matrix_products_in_the_picked_precision():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with autocast("cpu", "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    with autocast("cpu", "fp32"):
        assert (a @ b).dtype == torch.float32


def test_bf16_training_gives_the_fp32_loss_curve_within_tolerance(make_spec, recorder_class, tmp_path):
    runs = {}
    for precision in ("fp32", "bf16"):
        recorder = recorder_class()
        result = recorder.run(
            make_spec(tmp_path / precision, precision=precision, n_epochs=2, validation_path=None)
        )
        assert result.status == "succeeded"
        runs[precision] = [m.train_loss for m in recorder.metrics]
        word = "bfloat16" if precision == "bf16" else "float32"
        assert any(word in message for _, message in recorder.events)
    fp32, bf16 = runs["fp32"], runs["bf16"]
    assert len(fp32) == len(bf16) == 24
    assert fp32[-1] < 0.8 * fp32[0]  # the steps do learn, so the comparison means something
    assert bf16[-1] == pytest.approx(fp32[-1], rel=0.02)
    for a, b in zip(fp32, bf16, strict=True):
        assert b == pytest.approx(a, rel=0.05)
    assert fp32 != bf16  # bf16 really ran: the numbers differ in their low digits


def test_dpo_log_probabilities_in_bf16_are_within_tolerance_of_fp32(tokenizer, cache_dir, tmp_path):
    answers = ["apple", "a banana, ripe and yellow", "stone", "I would say lime, or maybe grape."]
    rows = [
        {
            "input": {"messages": [{"role": "user", "content": f"Name a food, number {i}."}]},
            "preferred_output": [{"role": "assistant", "content": answers[i % 4]}],
            "non_preferred_output": [{"role": "assistant", "content": answers[(i + 1) % 4] * 2}],
        }
        for i in range(6)
    ]
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pairs = load_preference(path, tokenizer, 512)
    batch = pack_one_row([e for p in pairs for e in (p.chosen, p.rejected)], tokenizer.pad_token_id)
    model, _ = load_base("fineweb-tiny", cache_dir=cache_dir, device="cpu")
    with torch.no_grad():
        fp32 = sequence_logps(model, batch)
        with autocast("cpu", "bf16"):
            bf16 = sequence_logps(model, batch)
    n_answer_tokens = torch.zeros(batch.n_examples).index_add(
        0, batch.segment_ids[batch.targets != -100], torch.ones(int((batch.targets != -100).sum()))
    )
    assert bf16.dtype == fp32.dtype == torch.float32
    assert not torch.equal(bf16, fp32)
    assert torch.allclose(bf16, fp32, rtol=0.02, atol=0.0)
    assert float(((bf16 - fp32).abs() / n_answer_tokens).mean()) < 0.05


def test_metrics_report_the_measured_training_speed(trained):
    recorder, _ = trained
    speeds = [m.tokens_per_s for m in recorder.metrics]
    assert all(s is not None and s > 0 for s in speeds)
    last = recorder.metrics[-1]
    # Steps only: at least the overall rate, which also counts loading, evaluations and saves.
    assert last.tokens_per_s >= last.tokens_seen / last.elapsed_s
