"""A lean forward pass for serving Llama-architecture models one token at a time.

Why: profiling ``generate()`` and the engine's old decode loop on SmolLM2-135M (README, "Serving
speed") showed two costs per token besides the weights themselves: transformers' per-module Python
(about 60 small ops per layer, 30 layers, a ``DynamicCache`` that concatenates every step) and
torch's two OpenMP threads spinning against each other when the two cores are shared. This module
keeps the model's own float32 weights and the same arithmetic (the same RMSNorm, rotary embedding,
scaled-dot-product attention and SiLU MLP as ``modeling_llama``) with less around it:

* q/k/v and gate/up projections fused into one matrix each. The fused matrix owns the storage and
  the transformers modules' weights become row views of it, so no memory is doubled and the
  transformers model (the fallback path, ``generate()``) still works on the same numbers.
* A static KV cache: one preallocated buffer per generation, written in place (no ``torch.cat``).
* The rotary table computed once per model (by the model's own ``rotary_emb``), indexed per step.
* Only the last position goes through the final norm and the 49k-wide LM head.

The tests check that greedy output equals ``transformers`` ``generate()`` token for token, base and
LoRA-merged, and the bench prints whether it did on the 135M model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F


def supports(model: Any) -> bool:
    """True for a plain (non-peft) LlamaForCausalLM without biases or rope scaling surprises."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) != "llama":
        return False
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        return False
    if getattr(config, "hidden_act", "silu") != "silu":
        return False
    inner = getattr(model, "model", None)
    return inner is not None and hasattr(inner, "layers") and hasattr(inner, "rotary_emb")


class Int4Weight:
    """A [out, in] weight in torch's CPU int4 layout, for the speculative draft (never the reply).

    Groups of 32 along the input with a bf16 scale and zero each (``w = (q - 8) * scale + zero``,
    q in 0..15), multiplied by ``torch._weight_int4pack_mm_for_cpu`` with bf16 activations: about
    2.6x faster than the float32 product here, but not the same numbers, which is why only the
    draft uses it (see ``speculative_greedy``).
    """

    GROUP = 32

    def __init__(self, w: torch.Tensor):
        out, inn = w.shape
        g = w.detach().float().reshape(out, inn // self.GROUP, self.GROUP)
        low, high = g.amin(-1), g.amax(-1)
        scale = ((high - low) / 15).clamp(min=1e-12)
        q = ((g - low[..., None]) / scale[..., None]).round().clamp(0, 15).to(torch.int32).reshape(out, inn)
        self.packed = torch._convert_weight_to_int4pack_for_cpu(q, 1)
        zero = low + 8 * scale
        self.scale_zero = torch.stack([scale, zero], -1).transpose(0, 1).contiguous().to(torch.bfloat16)
        self.shape = (out, inn)

    @classmethod
    def works_for(cls, w: torch.Tensor) -> bool:
        """Whether this torch build and ``w``'s shape and device allow the int4 product."""
        out, inn = w.shape
        if w.device.type != "cpu" or inn % cls.GROUP or out % 16:
            return False
        try:
            probe = cls(torch.zeros(16, inn))
            probe(torch.zeros(1, inn))
        except (RuntimeError, AttributeError, NotImplementedError):
            return False
        return True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
        y = torch._weight_int4pack_mm_for_cpu(flat, self.packed, self.GROUP, self.scale_zero)
        return y.reshape(*x.shape[:-1], self.shape[0]).float()

    @property
    def nbytes(self) -> int:
        return self.packed.numel() * self.packed.element_size() + 2 * self.scale_zero.numel()


Weight = torch.Tensor | Int4Weight


def _linear(x: torch.Tensor, w: Weight) -> torch.Tensor:
    return F.linear(x, w) if isinstance(w, torch.Tensor) else w(x)


@dataclass
class _Layer:
    ln1: torch.Tensor
    wqkv: Weight
    wo: Weight
    ln2: torch.Tensor
    wgu: Weight
    wdown: Weight


def _fuse(linears: list[torch.nn.Linear]) -> torch.Tensor:
    """One [sum(out), in] matrix; each module's weight becomes a row view of it (no copy kept)."""
    fused = torch.cat([m.weight.detach() for m in linears], dim=0).contiguous()
    row = 0
    for m in linears:
        n = m.weight.shape[0]
        m.weight = torch.nn.Parameter(fused[row : row + n], requires_grad=False)
        row += n
    return fused


class KVCache:
    """Keys and values of one generation: [layers, 1, kv_heads, capacity, head_dim] each."""

    def __init__(self, n_layers: int, n_kv: int, head_dim: int, capacity: int, dtype, device):
        shape = (n_layers, 1, n_kv, capacity, head_dim)
        self.k = torch.empty(shape, dtype=dtype, device=device)
        self.v = torch.empty(shape, dtype=dtype, device=device)
        self.capacity = capacity
        self.length = 0  # positions filled

    @property
    def nbytes(self) -> int:
        return 2 * self.k.numel() * self.k.element_size()


class FastLlama:
    """Serving-side view of a LlamaForCausalLM (see the module docstring). Read-only after init:
    generations on the same model may run in parallel threads, each with its own ``KVCache``."""

    def __init__(self, model: Any):
        config = model.config
        inner = model.model
        self.n_layers = int(config.num_hidden_layers)
        self.n_heads = int(config.num_attention_heads)
        self.n_kv = int(config.num_key_value_heads)
        self.hidden = int(config.hidden_size)
        self.head_dim = int(getattr(config, "head_dim", None) or self.hidden // self.n_heads)
        self.eps = float(config.rms_norm_eps)
        self.scale = self.head_dim**-0.5
        self.embed = inner.embed_tokens.weight.detach()
        self.lm_head = model.lm_head.weight.detach()
        self.norm = inner.norm.weight.detach()
        self.dtype = self.embed.dtype
        self.device = self.embed.device
        self._rotary = inner.rotary_emb
        self._cos = torch.empty(0, self.head_dim, dtype=self.dtype, device=self.device)
        self._sin = self._cos
        self.layers = []
        for layer in inner.layers:
            att, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                _Layer(
                    ln1=layer.input_layernorm.weight.detach(),
                    wqkv=_fuse([att.q_proj, att.k_proj, att.v_proj]),
                    wo=att.o_proj.weight.detach(),
                    ln2=layer.post_attention_layernorm.weight.detach(),
                    wgu=_fuse([mlp.gate_proj, mlp.up_proj]),
                    wdown=mlp.down_proj.weight.detach(),
                )
            )
        self._split_qk = (self.n_heads + self.n_kv) * self.head_dim
        self._inter = self.layers[0].wgu.shape[0] // 2 if self.layers else 0
        self.lm_head_w: Weight = self.lm_head

    def int4_draft(self) -> FastLlama | None:
        """A copy of this model with every product's weight in int4 (``Int4Weight``), sharing the
        embeddings and norms: the draft of ``speculative_greedy``. None where int4 cannot run."""
        import copy

        mats = [w for layer in self.layers for w in (layer.wqkv, layer.wo, layer.wgu, layer.wdown)]
        if not all(isinstance(w, torch.Tensor) and Int4Weight.works_for(w) for w in [*mats, self.lm_head]):
            return None
        draft = copy.copy(self)
        draft.layers = [
            _Layer(
                ln1=layer.ln1,
                wqkv=Int4Weight(cast(torch.Tensor, layer.wqkv)),
                wo=Int4Weight(cast(torch.Tensor, layer.wo)),
                ln2=layer.ln2,
                wgu=Int4Weight(cast(torch.Tensor, layer.wgu)),
                wdown=Int4Weight(cast(torch.Tensor, layer.wdown)),
            )
            for layer in self.layers
        ]
        draft.lm_head_w = Int4Weight(self.lm_head)
        return draft

    @property
    def int4_nbytes(self) -> int:
        weights = [w for layer in self.layers for w in (layer.wqkv, layer.wo, layer.wgu, layer.wdown)]
        return sum(w.nbytes for w in [*weights, self.lm_head_w] if isinstance(w, Int4Weight))

    def new_cache(self, capacity: int) -> KVCache:
        self._ensure_rotary(capacity)
        return KVCache(self.n_layers, self.n_kv, self.head_dim, capacity, self.dtype, self.device)

    def _ensure_rotary(self, length: int) -> None:
        if self._cos.shape[0] >= length:
            return
        n = max(length, 2 * self._cos.shape[0], 256)
        positions = torch.arange(n, device=self.device)[None]
        probe = torch.zeros(1, 1, self.head_dim, dtype=self.dtype, device=self.device)
        cos, sin = self._rotary(probe, positions)  # the model's own rope (scaling included)
        self._cos, self._sin = cos[0].to(self.dtype), sin[0].to(self.dtype)

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # modeling_llama.LlamaRMSNorm, op for op (float32 weights: the casts are no-ops)
        variance = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * torch.rsqrt(variance + self.eps))

    @torch.inference_mode()
    def forward(self, token_ids: list[int], cache: KVCache) -> torch.Tensor:
        """Run ``token_ids`` (the prompt, or the one new token) from ``cache.length`` on; return
        the float32 logits of the last position ([vocab]) and advance the cache."""
        return self.forward_many(token_ids, cache, every_position=False)[-1]

    @torch.inference_mode()
    def forward_many(
        self, token_ids: list[int], cache: KVCache, *, every_position: bool = True
    ) -> torch.Tensor:
        """Run ``token_ids`` from ``cache.length`` on (the prompt from 0, or tokens after a filled
        cache, each seeing the cache and the ones before it); return float32 logits [t, vocab] of
        every position (``every_position``) or of the last only ([1, vocab]); advance the cache."""
        start, t = cache.length, len(token_ids)
        end = start + t
        if end > cache.capacity:
            raise ValueError(f"KV cache of {cache.capacity} positions cannot hold {end}")
        ids = torch.tensor(token_ids, device=self.device)
        x = F.embedding(ids, self.embed)[None]  # [1, t, D]
        cos = self._cos[start:end][None, None]  # [1, 1, t, hd]
        sin = self._sin[start:end][None, None]
        half = self.head_dim // 2
        nh, nkv, hd = self.n_heads, self.n_kv, self.head_dim
        causal = t > 1 and start == 0
        # after a filled cache, query i sees the cache and the new tokens up to itself
        mask = (
            torch.ones(t, end, dtype=torch.bool, device=self.device).tril(start) if t > 1 and start else None
        )
        for i, w in enumerate(self.layers):
            h = self._rms(x, w.ln1)
            qkv = _linear(h, w.wqkv)
            qk = qkv[..., : self._split_qk].view(1, t, nh + nkv, hd).transpose(1, 2)
            v = qkv[..., self._split_qk :].view(1, t, nkv, hd).transpose(1, 2)
            rotated = torch.cat((-qk[..., half:], qk[..., :half]), dim=-1)
            qk = qk * cos + rotated * sin
            q, k = qk[:, :nh], qk[:, nh:]
            cache.k[i, :, :, start:end] = k
            cache.v[i, :, :, start:end] = v
            attn = F.scaled_dot_product_attention(
                q,
                cache.k[i, :, :, :end],
                cache.v[i, :, :, :end],
                attn_mask=mask,
                is_causal=causal,
                scale=self.scale,
                enable_gqa=nkv != nh,
            )
            x = x + _linear(attn.transpose(1, 2).reshape(1, t, nh * hd), w.wo)
            h = self._rms(x, w.ln2)
            gu = _linear(h, w.wgu)
            x = x + _linear(F.silu(gu[..., : self._inter]) * gu[..., self._inter :], w.wdown)
        cache.length = end
        last = self._rms(x[0] if every_position else x[0, -1:], self.norm)
        return _linear(last, self.lm_head_w).float()


def speculative_greedy(
    target: FastLlama, draft: FastLlama, prompt_ids: list[int], max_tokens: int, k: int = 2
) -> Iterator[int]:
    """Greedy tokens of ``target`` after ``prompt_ids``, found faster with ``draft`` guessing ahead.

    Each round the draft proposes ``k`` tokens one at a time (cheap: int4), then the target runs
    the newest token and the ``k`` guesses in one pass (a float32 product of 3 rows costs about
    what 1 row does here: the weights are read once) and keeps the guesses up to the first one it
    would not have picked, plus its own pick after them. So every token yielded is the target's
    own argmax given the tokens before it, as in one-token-at-a-time greedy decoding; the draft
    only decides how many come out of one pass. Yields until ``max_tokens`` (the caller stops
    earlier at an end token or a stop sequence by closing the generator).
    """
    capacity = len(prompt_ids) + max_tokens + k + 1
    kv, dkv = target.new_cache(capacity), draft.new_cache(capacity)
    token = int(torch.argmax(target.forward(prompt_ids, kv)))
    draft.forward_many(prompt_ids, dkv, every_position=False)
    pending: list[int] = []  # accepted tokens the draft's cache still lacks
    produced = 0
    while True:
        yield token
        produced += 1
        if produced >= max_tokens:
            return
        # invariant: both caches hold everything before `token` (the draft: but `pending`)
        start = kv.length
        guesses: list[int] = []
        feed = [*pending, token]
        for _ in range(min(k, max_tokens - produced)):
            guess = int(torch.argmax(draft.forward_many(feed, dkv, every_position=False)[-1]))
            guesses.append(guess)
            feed = [guess]
        picks = torch.argmax(target.forward_many([token, *guesses], kv), dim=-1).tolist()
        n = 0
        while n < len(guesses) and guesses[n] == picks[n]:
            n += 1
        kv.length = start + 1 + n  # `token` and the accepted guesses
        # the draft's cache holds `token` and guesses[:-1]; keep what was accepted
        dkv.length = min(dkv.length, start + 1 + n)
        pending = guesses[n - 1 : n] if n == len(guesses) and n else []
        for accepted in guesses[:n]:
            yield accepted
            produced += 1
            if produced >= max_tokens:
                return
        token = picks[n]
