"""Attention for packed training rows: each packed example attends only to itself.

A packed row holds several examples back to back, with ``position_ids``
restarting at 0 for each. transformers can turn those restarts into a
block-diagonal causal mask for its ``sdpa`` attention, but then every layer
still computes the scores of the whole row (``L x L`` for a row of ``L`` tokens)
and throws most of them away, and the CPU kernels are slower with a mask than
with ``is_causal``. Here the row is cut at the restarts instead and
``scaled_dot_product_attention`` runs causally on each example's own slice:
``sum(n_i^2)`` work instead of ``L^2``, no mask tensor, and the same result
(tests compare the two).

``use_packed_attention(model)`` switches a model to it. The trainer does that
for its own private copy of the base model; inference models keep ``sdpa``.
The segments travel to every layer as the ``packed_segments`` keyword of the
decoder's forward (transformers passes unknown keywords through to the
attention function). Without it the row is one causal sequence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NAME = "fineweb_packed"

Segments = list[tuple[int, int, int]]  # (row, start, end) of every example, end exclusive


def segments_from_positions(position_ids: torch.Tensor) -> Segments:
    """The (row, start, end) of every sequence in a packed batch: a sequence starts where its position is 0."""
    rows, width = position_ids.shape
    starts = (position_ids == 0).nonzero().tolist()
    by_row: dict[int, list[int]] = {r: [] for r in range(rows)}
    for r, s in starts:
        by_row[r].append(s)
    segments: Segments = []
    for r in range(rows):
        cuts = by_row[r] if by_row[r] and by_row[r][0] == 0 else [0, *by_row[r]]
        segments += [(r, s, e) for s, e in zip(cuts, [*cuts[1:], width], strict=True)]
    return segments


def packed_attention(
    module: torch.nn.Module | None,  # unused (transformers passes the attention module)
    query: torch.Tensor,  # [rows, heads, L, dim]
    key: torch.Tensor,  # [rows, kv_heads, L, dim]
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    packed_segments: Segments | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    rows, _, width, _ = query.shape
    if key.shape[2] != width:
        raise ValueError("packed attention is for training rows only (no KV cache)")
    if packed_segments is None:
        packed_segments = [(r, 0, width) for r in range(rows)]
    gqa = query.shape[1] != key.shape[1]
    per_row: list[list[torch.Tensor]] = [[] for _ in range(rows)]
    for r, s, e in packed_segments:
        per_row[r].append(
            F.scaled_dot_product_attention(
                query[r : r + 1, :, s:e],
                key[r : r + 1, :, s:e],
                value[r : r + 1, :, s:e],
                dropout_p=dropout,
                scale=scaling,
                is_causal=True,
                enable_gqa=gqa,
            )
        )
    out = torch.cat([torch.cat(parts, dim=2) if len(parts) > 1 else parts[0] for parts in per_row], dim=0)
    return out.transpose(1, 2).contiguous(), None


def _no_mask(*args, **kwargs) -> None:
    """The mask builder for this attention: segments replace the mask, so none is built."""
    return None


def register() -> None:
    """Make ``NAME`` known to transformers (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, packed_attention)
    AttentionMaskInterface.register(NAME, _no_mask)


def use_packed_attention(model) -> None:
    """Switch a (base) model to per-example attention; it then needs ``packed_segments`` or one sequence per row."""
    register()
    model.set_attn_implementation(NAME)
