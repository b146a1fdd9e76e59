"""Loss, token accuracy and DPO statistics of one packed batch (see attention.py for the packing).

``fast`` (a ``fasttrain.LoraTrainForward``, or None) computes the hidden states and the LM head in
place of the peft model's own forward; the statistics are the same either way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .attention import segments_from_positions
from .data import IGNORE, PackedBatch


def _decoder_and_head(model):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.model if hasattr(base, "model") else base.get_decoder()
    return decoder, base.get_output_embeddings()


def _hidden(model, batch: PackedBatch, fast=None, adapter: bool = True) -> torch.Tensor:
    segments = segments_from_positions(batch.position_ids)
    if fast is not None:
        return fast.hidden(batch.input_ids, batch.position_ids, segments, adapter=adapter)
    decoder, _ = _decoder_and_head(model)
    # Models switched to attention.NAME (the trainer's) attend within each example's slice,
    # cut where position_ids restart. Other models get attention_mask=None + restarting
    # position_ids, which transformers turns into a block-diagonal causal mask
    # (masking_utils.find_packed_sequence_indices; use_cache=False matters: with a cache
    # that detection is skipped). Both give the same numbers; the first is faster.
    return decoder(
        input_ids=batch.input_ids,
        position_ids=batch.position_ids,
        use_cache=False,
        packed_segments=segments,
    ).last_hidden_state


def _logits(model, hidden: torch.Tensor, fast=None) -> torch.Tensor:
    if fast is not None:
        return fast.logits(hidden)
    _, head = _decoder_and_head(model)
    return head(hidden).float()


def token_stats(model, batch: PackedBatch, fast=None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(sum of token cross-entropy, number of correct argmax predictions, number of targets).

    The LM head only runs on positions that have a target (a large saving: the
    vocabulary is 49k wide and most tokens are prompt).
    """
    hidden = _hidden(model, batch, fast)
    mask = batch.targets != IGNORE
    n = int(mask.sum())
    if n == 0:
        zero = hidden.sum() * 0.0
        return zero, torch.zeros((), dtype=torch.long), 0
    logits = _logits(model, hidden[mask], fast)
    targets = batch.targets[mask]
    loss_sum = F.cross_entropy(logits, targets, reduction="sum")
    correct = (logits.detach().argmax(-1) == targets).sum()
    return loss_sum, correct, n


def sequence_logps(model, batch: PackedBatch, fast=None, adapter: bool = True) -> torch.Tensor:
    """Sum of target-token log-probabilities per packed example: shape [batch.n_examples]."""
    hidden = _hidden(model, batch, fast, adapter)
    mask = batch.targets != IGNORE
    logits = _logits(model, hidden[mask], fast)
    token_logp = torch.log_softmax(logits, -1).gather(-1, batch.targets[mask].unsqueeze(-1)).squeeze(-1)
    sums = torch.zeros(batch.n_examples, dtype=token_logp.dtype, device=token_logp.device)
    return sums.index_add(0, batch.segment_ids[mask], token_logp)


def dpo_stats(model, batch: PackedBatch, beta: float, fast=None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(sum of DPO losses, number of pairs with chosen reward > rejected reward, number of pairs).

    The batch holds examples [chosen_0, rejected_0, chosen_1, rejected_1, ...].
    The reference model is the base model: the LoRA adapter switched off.
    """
    policy = sequence_logps(model, batch, fast)
    if fast is not None:
        with torch.no_grad():
            reference = sequence_logps(model, batch, fast, adapter=False)
    else:
        with torch.no_grad(), model.disable_adapter():
            reference = sequence_logps(model, batch)
    chosen_reward = beta * (policy[0::2] - reference[0::2])
    rejected_reward = beta * (policy[1::2] - reference[1::2])
    margin = chosen_reward - rejected_reward
    losses = -F.logsigmoid(margin)
    return losses.sum(), (margin.detach() > 0).sum(), int(margin.numel())
