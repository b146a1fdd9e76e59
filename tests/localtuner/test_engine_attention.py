"""Per-example attention for packed rows gives the numbers of the masked sdpa path, faster."""

import torch

from localtuner.engine.attention import NAME, segments_from_positions, use_packed_attention
from localtuner.engine.basemodels import load_base
from localtuner.engine.data import chat_example, pack, pack_one_row
from localtuner.engine.losses import dpo_stats, token_stats

from .test_engine_data import _examples, conversation


def _loss_and_grads(model, batch):
    model.zero_grad(set_to_none=True)
    loss_sum, correct, n = token_stats(model, batch)
    (loss_sum / n).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return float(loss_sum.detach()), int(correct), n, grads


def _trainable_tiny(cache_dir):
    model, _ = load_base("fineweb-tiny", cache_dir=cache_dir, device="cpu")
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def test_segments_are_cut_where_positions_restart_in_every_row():
    positions = torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 0, 1]])
    assert segments_from_positions(positions) == [(0, 0, 3), (0, 3, 5), (0, 5, 6), (1, 0, 4), (1, 4, 6)]


def test_a_row_without_restarts_is_one_segment():
    assert segments_from_positions(torch.arange(5).unsqueeze(0) + 7) == [(0, 0, 5)]


def test_packed_attention_matches_the_masked_sdpa_loss_and_gradients(tokenizer, cache_dir):
    examples = _examples(tokenizer)
    batch = pack_one_row(examples, tokenizer.pad_token_id)
    masked_model = _trainable_tiny(cache_dir)
    packed_model = _trainable_tiny(cache_dir)
    use_packed_attention(packed_model)
    assert packed_model.config._attn_implementation == NAME
    assert masked_model.config._attn_implementation == "sdpa"

    masked = _loss_and_grads(masked_model, batch)
    packed = _loss_and_grads(packed_model, batch)

    assert packed[1:3] == masked[1:3]
    assert abs(packed[0] - masked[0]) < 1e-4 * masked[0]
    assert masked[3].keys() == packed[3].keys() and len(masked[3]) > 10
    for name, grad in masked[3].items():
        assert torch.allclose(packed[3][name], grad, rtol=1e-3, atol=1e-6), name


def test_packed_attention_keeps_examples_apart_in_padded_multi_row_batches(tokenizer, cache_dir):
    examples = _examples(tokenizer)
    longest = max(len(e) for e in examples)
    rows = pack(examples, longest, tokenizer.pad_token_id)
    assert rows.input_ids.shape[0] > 1 and rows.n_pad > 0
    model = _trainable_tiny(cache_dir)
    use_packed_attention(model)
    with torch.no_grad():
        in_rows, _, n_rows = token_stats(model, rows)
        alone = [token_stats(model, pack_one_row([e], tokenizer.pad_token_id)) for e in examples]
        # Sensitivity: positions that never restart make one sequence per row, and the loss changes.
        crossing = pack_one_row(examples, tokenizer.pad_token_id)
        crossing.position_ids = torch.arange(crossing.input_ids.shape[1]).unsqueeze(0)
        crossing_sum, _, _ = token_stats(model, crossing)
    alone_sum = sum(float(s) for s, _, _ in alone)
    assert n_rows == sum(n for _, _, n in alone)
    assert abs(float(in_rows) - alone_sum) < 1e-4 * alone_sum
    assert abs(float(crossing_sum) - alone_sum) > 1e-3 * alone_sum


def test_dpo_log_probabilities_are_the_same_with_packed_attention(tokenizer, cache_dir):
    from peft import LoraConfig, get_peft_model

    pair = [
        conversation(("user", "Say hi in German"), ("assistant", "Hallo!")),
        conversation(("user", "Say hi in German"), ("assistant", "Hello!")),
    ]
    examples = [chat_example(tokenizer, p, 1, 512) for p in pair] * 2
    batch = pack_one_row(examples, tokenizer.pad_token_id)
    results = []
    for packed in (False, True):
        model, _ = load_base("fineweb-tiny", cache_dir=cache_dir, device="cpu")
        if packed:
            use_packed_attention(model)
        torch.manual_seed(0)
        config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        model = get_peft_model(model, config)
        loss, wins, n = dpo_stats(model, batch, beta=0.1)
        results.append((float(loss.detach()), int(wins), n))
    assert results[0][1:] == results[1][1:] and results[0][2] == 2
    assert abs(results[0][0] - results[1][0]) < 1e-5 + 1e-4 * abs(results[0][0])
