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
* One token at a time, where the float32 weights are exactly the base model's own 4-bit and 8-bit
  codes rebuilt (``qgemv``: the GGUF the base ships as), the whole step runs in one call of
  ``qgemv.DecodeStep`` from those codes, so a token reads ~96 MB instead of ~540 MB, with the same
  float32 weights; the prompt (many tokens at once) and any weight that is not such codes use
  torch's float32 products below.

The tests check that greedy output equals ``transformers`` ``generate()`` token for token, base and
LoRA-merged, and the bench prints whether it did on the 135M model.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from . import qgemv


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


def llama_dims(config: Any) -> tuple[int, int, int, float]:
    """(attention heads, key/value heads, head dimension, RMSNorm epsilon) of a Llama config."""
    n_heads = int(config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or int(config.hidden_size) // n_heads)
    return n_heads, int(config.num_key_value_heads), head_dim, float(config.rms_norm_eps)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """modeling_llama.LlamaRMSNorm op for op, for float32 ``x`` and weights (its casts are no-ops)."""
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


PROJECTIONS = (("q_proj", "k_proj", "v_proj"), ("o_proj",), ("gate_proj", "up_proj"), ("down_proj",))


@dataclass
class Coded:
    """A product served from 4/8-bit codes (``qgemv``), plus a fine-tune's LoRA update kept
    low-rank beside them: ``y = codes(x) + (x @ a.T) @ b``, ``b`` = B transposed with peft's
    scaling in it (``qgemv.DecodeStep`` passes them to the same C call)."""

    codes: qgemv.PackedQ4 | qgemv.PackedQ8
    a: torch.Tensor | None = None  # [rank, in]
    b: torch.Tensor | None = None  # B transposed: [rank, out], or [rank / segments, out] with bounds
    bounds: torch.Tensor | None = None  # output rows of each fused projection (PackedQ4.__call__)

    @property
    def nbytes(self) -> int:
        extra = sum(t.numel() * t.element_size() for t in (self.a, self.b) if t is not None)
        return self.codes.nbytes + extra


def _modules(layer: Any, names: tuple[str, ...]) -> list[Any]:
    return [
        getattr(layer.mlp if n in ("gate_proj", "up_proj", "down_proj") else layer.self_attn, n)
        for n in names
    ]


def model_codes(model: Any) -> list[Coded] | None:
    """Every layer product of a plain LlamaForCausalLM as 4-bit codes (per layer: q|k|v, o,
    gate|up, down) and then its LM head as 8-bit (or 4-bit) codes; None unless all of them are
    exactly such codes (``qgemv.pack_q4``) or the kernels cannot run here."""
    if not qgemv.available():
        return None
    out: list[Coded] = []
    for layer in model.model.layers:
        for names in PROJECTIONS:
            mods = _modules(layer, names)
            packed = qgemv.pack_q4(torch.cat([m.weight.detach() for m in mods]))
            if packed is None:
                return None
            out.append(Coded(packed))
    head = model.lm_head.weight.detach()
    packed_head = qgemv.pack_q8(head) or qgemv.pack_q4(head)
    return None if packed_head is None else [*out, Coded(packed_head)]


def _lora_pair(coded: Coded, mods: list[Any], pairs: list[tuple[torch.Tensor, torch.Tensor] | None]) -> Coded:
    """The LoRA pairs of a fused product's projections (None: no LoRA there) as one pair beside
    its codes: with one rank, ``b`` is the projections' b's stacked and ``bounds`` says whose rows
    are whose (a block-diagonal b without its zeros); with several ranks, the block diagonal."""
    ranks = {p[0].shape[0] for p in pairs if p is not None}
    if len(ranks) == 1 and len(mods) > 1:
        rank = ranks.pop()
        a = torch.cat(
            [p[0] if p else torch.zeros(rank, m.weight.shape[1]) for p, m in zip(pairs, mods, strict=True)]
        )
        b = torch.cat(
            [p[1] if p else torch.zeros(m.weight.shape[0], rank) for p, m in zip(pairs, mods, strict=True)]
        )
        bounds = torch.tensor([0, *itertools.accumulate(m.weight.shape[0] for m in mods)], dtype=torch.int64)
        return Coded(coded.codes, a.contiguous(), b.T.contiguous(), bounds)
    a = torch.cat([p[0] for p in pairs if p is not None])
    b = torch.block_diag(
        *[p[1] if p else torch.zeros(m.weight.shape[0], 0) for p, m in zip(pairs, mods, strict=True)]
    )
    return Coded(coded.codes, a.contiguous(), b.T.contiguous())


def with_lora(codes: list[Coded], peft_model: Any) -> list[Coded] | None:
    """``codes`` (of the base, before the adapter was merged) with the adapter's LoRA factors of
    ``peft_model`` beside each product; None for what a low-rank pair cannot express (DoRA,
    several adapters, LoRA on the LM head or embeddings)."""
    from peft.tuners.lora import LoraLayer

    config = peft_model.peft_config.get(peft_model.active_adapter)
    if config is None or getattr(config, "use_dora", False) or len(peft_model.peft_config) != 1:
        return None
    name = peft_model.active_adapter
    inner = peft_model.get_base_model().model
    loras = {id(m) for m in peft_model.modules() if isinstance(m, LoraLayer)}
    covered = 0
    result: list[Coded] = []
    for i, layer in enumerate(inner.layers):
        for j, names in enumerate(PROJECTIONS):
            mods = _modules(layer, names)
            coded = codes[i * len(PROJECTIONS) + j]
            pairs: list[tuple[torch.Tensor, torch.Tensor] | None] = []
            for mod in mods:
                if id(mod) in loras and name in mod.lora_A:
                    a = mod.lora_A[name].weight.detach().float()
                    b = mod.lora_B[name].weight.detach().float() * float(mod.scaling[name])
                    pairs.append((a, b))
                    covered += 1
                else:
                    pairs.append(None)
            if all(pair is None for pair in pairs):
                result.append(coded)
                continue
            result.append(_lora_pair(coded, mods, pairs))
            if result[-1].a is not None and result[-1].a.shape[0] > qgemv.MAX_RANK:
                return None
    if covered != len(loras):  # LoRA somewhere else (LM head, embeddings): not expressible here
        return None
    return [*result, codes[-1]]


@dataclass
class _Layer:
    ln1: torch.Tensor
    wqkv: torch.Tensor
    wo: torch.Tensor
    ln2: torch.Tensor
    wgu: torch.Tensor
    wdown: torch.Tensor
    # the same products from 4-bit codes (``Coded``), read by ``qgemv.DecodeStep``; None: float32
    pqkv: Coded | None = None
    po: Coded | None = None
    pgu: Coded | None = None
    pdown: Coded | None = None


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
        self.scratch: torch.Tensor | None = None  # the whole-step kernel's work space (qgemv)

    @property
    def nbytes(self) -> int:
        return 2 * self.k.numel() * self.k.element_size()


class FastLlama:
    """Serving-side view of a LlamaForCausalLM (see the module docstring). Read-only after init:
    generations on the same model may run in parallel threads, each with its own ``KVCache``."""

    def __init__(self, model: Any, *, codes: bool | list[Coded] | None = True):
        """``codes``: serve single tokens from the weights' 4/8-bit codes where they are exact
        (True: find them in ``model``; a list: ``model_codes``/``with_lora``'s; False/None: not)."""
        config = model.config
        inner = model.model
        self.n_layers = int(config.num_hidden_layers)
        self.hidden = int(config.hidden_size)
        self.n_heads, self.n_kv, self.head_dim, self.eps = llama_dims(config)
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
        if codes is True:
            found = self.dtype == torch.float32 and self.device.type == "cpu"
            codes = model_codes(model) if found else None
        self.lm_head_codes: Coded | None = None
        if codes:
            if len(codes) != 4 * len(self.layers) + 1:
                raise ValueError(f"{len(codes)} coded products for {len(self.layers)} layers")
            for i, w in enumerate(self.layers):
                w.pqkv, w.po, w.pgu, w.pdown = codes[4 * i : 4 * i + 4]
            self.lm_head_codes = codes[-1]

        self._step = qgemv.DecodeStep(self) if self.lm_head_codes is not None else None

    @property
    def codes_nbytes(self) -> int:
        """Bytes the codes add beside the float32 weights (0: none)."""
        parts = [p for w in self.layers for p in (w.pqkv, w.po, w.pgu, w.pdown)] + [self.lm_head_codes]
        return sum(p.nbytes for p in parts if p is not None)

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
        return rms_norm(x, weight, self.eps)

    @torch.inference_mode()
    def forward(self, token_ids: list[int], cache: KVCache) -> torch.Tensor:
        """Run ``token_ids`` (the prompt, or the one new token) from ``cache.length`` on; return
        the float32 logits of the last position ([vocab]) and advance the cache."""
        start, t = cache.length, len(token_ids)
        end = start + t
        if end > cache.capacity:
            raise ValueError(f"KV cache of {cache.capacity} positions cannot hold {end}")
        if t > 1 and start != 0:
            raise ValueError("several tokens at once only for the prompt (from position 0)")
        if t == 1 and self._step is not None:  # the whole step in one call (qgemv.DecodeStep)
            logits = self._step(token_ids[0], cache)
            cache.length = end
            return logits
        ids = torch.tensor(token_ids, device=self.device)
        x = F.embedding(ids, self.embed)[None]  # [1, t, D]
        cos = self._cos[start:end][None, None]  # [1, 1, t, hd]
        sin = self._sin[start:end][None, None]
        half = self.head_dim // 2
        nh, nkv, hd = self.n_heads, self.n_kv, self.head_dim
        causal = t > 1
        for i, w in enumerate(self.layers):
            h = self._rms(x, w.ln1)
            qkv = F.linear(h, w.wqkv)
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
                is_causal=causal,
                scale=self.scale,
                enable_gqa=nkv != nh,
            )
            x = x + F.linear(attn.transpose(1, 2).reshape(1, t, nh * hd), w.wo)
            h = self._rms(x, w.ln2)
            gu = F.linear(h, w.wgu)
            x = x + F.linear(F.silu(gu[..., : self._inter]) * gu[..., self._inter :], w.wdown)
        cache.length = end
        last = self._rms(x[:, -1:], self.norm)
        head = self.lm_head_codes
        logits = F.linear(last, self.lm_head) if head is None else head.codes(last)
        return logits[0, -1].float()
