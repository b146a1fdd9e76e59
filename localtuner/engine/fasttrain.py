"""A lean training forward pass for LoRA on Llama-architecture models (issue 15).

Why: the profile of one bf16 training step of SmolLM2-135M through peft + transformers under
``torch.autocast`` (README, "Training speed") spent more time around the matrix products than in
them: ``copy_`` 20% (autocast casts every frozen float32 weight to bf16 again in every forward,
since it caches casts only of weights that need gradients, plus the casts of every activation),
``mul`` 14% and ``bernoulli_`` 10% (peft draws a fresh dropout mask of the input for each of the 7
LoRA modules of a layer, and scales each one's output), ``fill_`` and ``add_`` 7% each (gradients
of the same input summed over q, k, v and the LoRA paths), ``mm`` only 17%. This module computes
the same network with less around it:

* The frozen base weights are cast **once** to the compute precision, with q/k/v and gate/up fused
  into one matrix each (so one product instead of three or two, and one gradient for the input).
* The LoRA factors stay the live float32 parameters peft owns (the optimizer, ``save_pretrained``
  and resume see no difference). Per fused projection the ``A`` factors are stacked and the scaled
  ``B`` factors put into one block-diagonal matrix, so q/k/v's LoRA is two small products.
* **One dropout mask per input**, shared by the LoRA paths that read that input (q/k/v, gate/up),
  instead of one per module. Each path still sees its input dropped with probability ``p`` and
  rescaled by ``1/(1-p)``, as LoRA's dropout is defined; only the draws are no longer independent
  between q, k and v. The mask is drawn in the compute precision.
* Norms, the residual stream, the loss and the optimizer stay float32, as under autocast; rotary
  embedding, attention (per packed example, ``attention.py``'s rule) and SiLU as ``modeling_llama``.

``supports(peft_model)`` says whether a model can use it (plain Llama without biases, LoRA on
exactly ``hyper.LORA_TARGETS``); other models keep the peft forward. The tests check that with
dropout off both forwards give the same loss and LoRA gradients (float32, to rounding), and the
precision tests hold the bf16 loss within their tolerance of float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .attention import Segments, packed_attention
from .fastdecode import llama_dims, rms_norm

_ATTN = ("q_proj", "k_proj", "v_proj")
_MLP = ("gate_proj", "up_proj")


def _lora_parts(module: Any) -> tuple[torch.Tensor, torch.Tensor, float, float] | None:
    """(A, B, scaling, dropout p) of a peft LoRA Linear with one "default" adapter, else None."""
    try:
        a = module.lora_A["default"].weight
        b = module.lora_B["default"].weight
        scaling = float(module.scaling["default"])
        drop = module.lora_dropout["default"]
    except (AttributeError, KeyError, TypeError):
        return None
    p = float(drop.p) if isinstance(drop, torch.nn.Dropout) else 0.0
    if getattr(module, "use_dora", {}).get("default", False):
        return None
    return a, b, scaling, p


def supports(peft_model: Any) -> bool:
    """True for a peft-wrapped LlamaForCausalLM with LoRA on all 7 projections and no biases."""
    from .fastdecode import supports as plain_llama

    base = peft_model.get_base_model() if hasattr(peft_model, "get_base_model") else None
    if base is None or not plain_llama(base):
        return False
    rope = getattr(base.config, "rope_parameters", None) or getattr(base.config, "rope_scaling", None) or {}
    if "dynamic" in str(rope.get("rope_type", "default")):  # cos/sin that depend on the length
        return False
    for layer in base.model.layers:
        for parent, names in ((layer.self_attn, (*_ATTN, "o_proj")), (layer.mlp, (*_MLP, "down_proj"))):
            for name in names:
                module = getattr(parent, name, None)
                if module is None or _lora_parts(module) is None:
                    return False
                if getattr(module.base_layer, "bias", None) is not None:
                    return False
    return True


@dataclass
class _Proj:
    """One (possibly fused) projection: a frozen weight in the compute dtype plus its LoRA paths."""

    weight: torch.Tensor  # [out, in], compute dtype, no grad
    a: list[torch.Tensor]  # live LoRA A parameters [r, in] (float32)
    b: list[torch.Tensor]  # live LoRA B parameters [out_i, r]
    scaling: list[float]
    p: float  # dropout probability of the shared input mask

    def lora(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(stacked A [sum r, in], block-diagonal scaled B [out, sum r]) in ``dtype``, differentiable."""
        a = self.a[0] if len(self.a) == 1 else torch.cat(self.a, 0)
        bs = [b * s for b, s in zip(self.b, self.scaling, strict=True)]
        b = bs[0] if len(bs) == 1 else torch.block_diag(*bs)
        return a.to(dtype), b.to(dtype)


def _proj(modules: list[Any], dtype: torch.dtype) -> _Proj:
    parts = [_lora_parts(m) for m in modules]
    if any(p is None for p in parts):
        raise ValueError("not a LoRA projection")
    ps = {p[3] for p in parts if p is not None}
    weights = [m.base_layer.weight.detach() for m in modules]
    weight = weights[0] if len(weights) == 1 else torch.cat(weights, 0)
    weight = weight.to(dtype).contiguous()  # float32 + one module: the base's own tensor, no copy
    return _Proj(
        weight=weight,
        a=[p[0] for p in parts if p is not None],
        b=[p[1] for p in parts if p is not None],
        scaling=[p[2] for p in parts if p is not None],
        p=max(ps),
    )


def _dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout of ``x`` with probability ``p``; on CPU with a faster generator than torch's.

    torch's CPU ``bernoulli_`` (behind ``F.dropout``) draws one Mersenne-Twister number per
    element: 10 ms for a 1,333 x 576 mask here, 16% of a training step. This draws 16 random bits
    per element from numpy's SFC64 seeded by one draw of torch's generator (so a seeded run is
    reproducible and a resumed one continues the same stream), about 3.5x faster. ``p`` is rounded
    to a multiple of 1/65536 (0.05 -> 0.0500031) and the kept values are scaled by 1/(1-that).
    """
    if x.device.type != "cpu":
        return F.dropout(x, p, training=True)
    cut = round(p * 65536)
    if cut <= 0:
        return x
    if cut >= 65536:  # p = 1: everything dropped (and no division by zero)
        return x * 0
    n = x.numel()
    seed = int(torch.randint(0, 2**63 - 1, (1,)))
    bits = np.random.SFC64(seed).random_raw((n + 3) // 4).view(np.int16)[:n]
    drop = torch.from_numpy(np.less(bits, cut - 32768)).view(x.shape)
    return x.mul(65536 / (65536 - cut)).masked_fill_(drop, 0)


@dataclass
class _Layer:
    ln1: torch.Tensor
    qkv: _Proj
    o: _Proj
    ln2: torch.Tensor
    gu: _Proj
    down: _Proj


class LoraTrainForward:
    """The training forward of a peft LoRA Llama (see the module docstring).

    Built once per training run from the peft model (after ``get_peft_model`` and ``.to(device)``);
    reads the LoRA parameters live, so it follows every optimizer step. The frozen weights are
    copied once in ``dtype`` (float32: the fused matrices only, about the size of the base's
    q/k/v and gate/up weights).
    """

    def __init__(self, peft_model: Any, dtype: torch.dtype):
        base = peft_model.get_base_model()
        config = base.config
        inner = base.model
        self.peft_model = peft_model
        self.dtype = dtype
        self.n_heads, self.n_kv, self.head_dim, self.eps = llama_dims(config)
        self.scale = self.head_dim**-0.5
        self.embed = inner.embed_tokens.weight.detach()
        head = base.get_output_embeddings().weight.detach()
        self.head = head.to(dtype) if dtype != head.dtype else head
        self.norm = inner.norm.weight.detach()
        self._rotary = inner.rotary_emb
        self._cos = torch.empty(0, self.head_dim, device=self.embed.device)
        self._sin_signed = self._cos  # sin with rotate_half's sign folded in (see _rope)
        self.layers = []
        for layer in inner.layers:
            att, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                _Layer(
                    ln1=layer.input_layernorm.weight.detach(),
                    qkv=_proj([getattr(att, n) for n in _ATTN], dtype),
                    o=_proj([att.o_proj], dtype),
                    ln2=layer.post_attention_layernorm.weight.detach(),
                    gu=_proj([getattr(mlp, n) for n in _MLP], dtype),
                    down=_proj([mlp.down_proj], dtype),
                )
            )
        self._q_kv = (self.n_heads * self.head_dim, self.n_kv * self.head_dim, self.n_kv * self.head_dim)
        self._inter = self.layers[0].gu.weight.shape[0] // 2 if self.layers else 0

    # ------------------------------------------------------------------ pieces

    def _rope(self, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        need = int(position_ids.max()) + 1 if position_ids.numel() else 1
        if self._cos.shape[0] < need:
            n = max(need, 2 * self._cos.shape[0], 512)
            positions = torch.arange(n, device=self.embed.device)[None]
            probe = torch.zeros(1, 1, self.head_dim, device=self.embed.device)
            cos, sin = self._rotary(probe, positions)  # the model's own rope
            half = self.head_dim // 2
            self._cos = cos[0].float()
            # rotate_half(q) * sin == roll(q, half) * signed_sin
            self._sin_signed = torch.cat((-sin[0, :, :half], sin[0, :, half:]), dim=-1).float()
        # [rows, 1, L, hd], float32: q and k are rotated in float32 as under autocast, where
        # modeling_llama multiplies the bf16 projections by float32 cos/sin
        return self._cos[position_ids][:, None], self._sin_signed[position_ids][:, None]

    def _linear(self, x: torch.Tensor, proj: _Proj, adapter: bool) -> torch.Tensor:
        """``x @ W^T`` plus, with the adapter on, ``B(A(dropout(x))) * scaling`` for every path."""
        y = F.linear(x, proj.weight)
        if not adapter:
            return y
        a, b = proj.lora(self.dtype)
        dropped = _dropout(x, proj.p) if proj.p > 0 and self.training else x
        return y + F.linear(F.linear(dropped, a), b)

    # ------------------------------------------------------------------ forward

    @property
    def training(self) -> bool:
        return bool(self.peft_model.training)

    def hidden(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        segments: Segments,
        *,
        adapter: bool = True,
    ) -> torch.Tensor:
        """The final-norm hidden states [rows, L, D] in float32 (as ``decoder(...).last_hidden_state``)."""
        rows, width = input_ids.shape
        nh, nkv, hd = self.n_heads, self.n_kv, self.head_dim
        half = hd // 2
        cos, signed_sin = self._rope(position_ids)
        # float32 attention on CPU (q and k already are, after the rope): the CPU flash-attention
        # backward is faster in float32 than in bf16 (39 against 64 ms a layer, measured)
        adt = torch.float32 if self.embed.device.type == "cpu" else self.dtype
        x = F.embedding(input_ids, self.embed)  # float32 residual stream
        for w in self.layers:
            h = rms_norm(x, w.ln1, self.eps).to(self.dtype)
            q, k, v = self._linear(h, w.qkv, adapter).split(self._q_kv, dim=-1)
            q = q.view(rows, width, nh, hd).transpose(1, 2)
            k = k.view(rows, width, nkv, hd).transpose(1, 2)
            v = v.view(rows, width, nkv, hd).transpose(1, 2)
            # modeling_llama's q * cos + rotate_half(q) * sin, in 3 passes instead of 6 (and no
            # sliced views, whose gradients would each fill a zero tensor first)
            q = torch.addcmul(q * cos, q.roll(half, -1), signed_sin)
            k = torch.addcmul(k * cos, k.roll(half, -1), signed_sin)
            attn, _ = packed_attention(
                None, q.to(adt), k.to(adt), v.to(adt), None, scaling=self.scale, packed_segments=segments
            )  # [rows, L, heads, hd]
            attn = attn.reshape(rows, width, nh * hd).to(self.dtype)
            x = x + self._linear(attn, w.o, adapter)
            h = rms_norm(x, w.ln2, self.eps).to(self.dtype)
            gate, up = self._linear(h, w.gu, adapter).split(self._inter, dim=-1)
            x = x + self._linear(F.silu(gate) * up, w.down, adapter)
        return rms_norm(x, self.norm, self.eps)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The LM head on (selected) hidden states, as float32 logits."""
        return F.linear(hidden.to(self.dtype), self.head).float()
