"""Serving products over the base model's own 4-bit and 8-bit codes, in exact float32 weights.

Why: one token of SmolLM2-135M reads 538 MB of float32 weights, which at this machine's ~20 GB/s
is ~27 ms however lean the rest is: about as long as plain ``generate()`` spends on everything, so
the float32 path cannot be twice as fast (README, "Serving speed"). But those float32 weights are
not arbitrary: ``SmolLM2-135M-Instruct`` ships as a Q4_1 GGUF, so every weight of its layers *is*
``d * q + m`` for a 4-bit code ``q`` and two half-precision numbers ``d, m`` per block of 32, and
its embedding (the tied LM head) is Q8_0, ``d * q`` with an 8-bit ``q``. ``d * q`` is exact in
float32, so storing ``q, d, m`` and rebuilding ``w = d * q + m`` inside the product gives the very
float32 weights transformers holds, bit for bit, from 0.625 bytes a weight instead of 4. The
product is then the same float32 multiply-add as any float32 GEMV, only summed in another order.

* ``pack_q4`` / ``pack_q8`` find the codes *from the float32 weights* (no GGUF reading, so the
  row permutation transformers applies to q/k does not matter) and keep a matrix only if every
  block rebuilds exactly; any other matrix (a merged fine-tune, a model from elsewhere) is refused
  and stays on torch's float32 product.
* ``qgemv.c`` is compiled at first use with the system C compiler (``cc -O3 -march=native``, about
  0.3 s) into the model cache folder (``FINEWEB_MODEL_CACHE_DIR/kernels``). No compiler, a failed
  build, a failed self-check or a CPU with neither AVX2 nor AVX-512 means ``available()`` is False
  and serving uses the float32 path as before (the reason is logged once).
* The rows of a product are shared over OpenMP threads; the library links the ``libgomp.so.1``
  torch has loaded, so it uses torch's thread pool and the generation thread's
  ``torch.set_num_threads`` share (two columns side by side: a core each).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

BLOCK = 32
MAX_RANK = 1024  # LORA_MAX_RANK in qgemv.c: the LoRA ranks of one fused product together
SOURCE = Path(__file__).with_name("qgemv.c")
_lib: ctypes.CDLL | None = None
_lib_error: str | None = None
_lock = threading.Lock()
_I64 = ctypes.c_int64
_P = ctypes.c_void_p
_FLAGS = ["-O3", "-shared", "-fPIC", "-std=c11", "-fopenmp-simd", "-lm"]


def _build_dir() -> Path:
    """Beside the local models when their folder is set, else in this user's cache folder."""
    if os.environ.get("FINEWEB_MODEL_CACHE_DIR"):
        return Path(os.environ["FINEWEB_MODEL_CACHE_DIR"]) / "kernels"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "fineweb" / "kernels"


def _compile(march: str = "native") -> ctypes.CDLL:
    """Build (once per source, compiler and flags) and load the library; ``march``: the CPU to
    build for (tests build the portable loops with "x86-64" and "x86-64-v3" too)."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise OSError("no C compiler (cc) on PATH")
    source = SOURCE.read_bytes()
    error: Exception | None = None
    base = [*_FLAGS, f"-march={march}"]
    for flags in (base + ["-fopenmp"], base):  # without OpenMP: one thread, still correct
        tag = hashlib.sha256(source + " ".join([compiler, *flags]).encode()).hexdigest()[:16]
        target = _build_dir() / f"qgemv-{tag}.so"
        try:
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(f".{os.getpid()}.tmp")
                subprocess.run(
                    [compiler, *flags, "-o", str(partial), str(SOURCE)],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                os.replace(partial, target)  # atomic: parallel processes never load a half-written file
            lib = ctypes.CDLL(str(target))
            break
        except (OSError, subprocess.SubprocessError) as exc:
            error = exc
    else:
        raise OSError(f"the C compiler could not build {SOURCE.name}: {error}")
    lib.q4_gemv.argtypes = [_P, _P, _P, _P, _P, _I64, _I64, _I64, _P, _P, _I64, _P, _I64]
    lib.q8_gemv.argtypes = [_P, _P, _P, _P, _I64, _I64, _I64]
    lib.q4_gemv.restype = lib.q8_gemv.restype = None
    lib.q4_pack.argtypes = [_P, _I64, _I64, _P, _P, _P]
    lib.q8_pack.argtypes = [_P, _I64, _I64, _P, _P]
    lib.q4_pack.restype = lib.q8_pack.restype = _I64
    lib.qgemv_simd.restype = ctypes.c_int
    lib.decode_step.argtypes = [_P, ctypes.c_float, ctypes.c_float, *[_P] * 10]
    lib.decode_step.restype = None
    return lib


def _self_check(lib: ctypes.CDLL) -> None:
    """The built library against torch on random codes: the packers must find the codes of
    weights made from them (each block with a code 0 and a code 15, half-precision d and m, as
    Q4_1 blocks have), and the products (the 4-bit one with and without a LoRA pair) must match
    torch's float32 product. A miscompiled or wrongly vectorised build is refused before it
    serves a token."""
    g = torch.Generator().manual_seed(0)
    out, inn = 48, 3 * BLOCK
    codes = torch.randint(0, 16, (out, inn), generator=g, dtype=torch.uint8)
    codes.view(out, -1, BLOCK)[..., :2] = torch.tensor([0, 15], dtype=torch.uint8)
    d = (torch.rand(out, inn // BLOCK, generator=g) * 0.01).half().float()
    m = (-torch.rand(out, inn // BLOCK, generator=g) * 0.08).half().float()
    q = codes.float().view(out, inn // BLOCK, BLOCK)
    w4 = torch.addcmul(m[..., None], d[..., None], q).view(out, inn)
    codes8 = torch.randint(-127, 128, (out, inn), generator=g, dtype=torch.int8)
    codes8.view(out, -1, BLOCK)[..., 0] = 127
    w8 = codes8.float().view(out, -1, BLOCK).mul(d[..., None]).view(out, inn)
    x = torch.randn(2, inn, generator=g)
    with _bound(lib):
        p4, p8 = pack_q4(w4), pack_q8(w8)
    if p4 is None or p8 is None or not torch.equal(p8.codes, codes8) or not torch.equal(p4.d.float(), d):
        raise RuntimeError("self-check failed: the packers did not find the codes")
    a, b = torch.randn(5, inn, generator=g), torch.randn(out, 5, generator=g) * 0.01
    a2, bounds = torch.randn(6, inn, generator=g), torch.tensor([0, 20, out], dtype=torch.int64)
    b2 = torch.randn(out, 3, generator=g) * 0.01  # two segments of rank 3: rows 0-19, 20-47
    full = torch.block_diag(b2[:20], b2[20:])
    checks = (
        (x @ w4.T, p4(x)),
        (x @ w4.T + (x @ a.T) @ b.T, p4(x, a, b.T.contiguous())),
        (x @ w4.T + (x @ a2.T) @ full.T, p4(x, a2, b2.T.contiguous(), bounds)),
        (x @ w8.T, p8(x)),
    )
    for want, have in checks:
        if not torch.allclose(have, want, rtol=1e-5, atol=1e-5):
            raise RuntimeError(f"self-check failed: max difference {(have - want).abs().max().item():.3g}")


@contextlib.contextmanager
def _bound(lib: ctypes.CDLL):
    """``lib`` as the library in use while it is being checked (before ``available()`` says so)."""
    global _lib
    _lib, before = lib, _lib
    try:
        yield
    finally:
        _lib = before


def available() -> bool:
    """Whether the kernels are built and checked on this machine (built at the first call)."""
    global _lib, _lib_error
    with _lock:
        if _lib is None and _lib_error is None:
            try:
                lib = _compile()
                _self_check(lib)
                if lib.qgemv_simd() == 0:
                    raise RuntimeError(
                        "this CPU has neither AVX2 nor AVX-512, and the plain loops are slower than "
                        "torch's float32 product"
                    )
                _lib = lib
            except (OSError, subprocess.SubprocessError, RuntimeError, AttributeError) as exc:
                _lib_error = str(exc) or type(exc).__name__
                logger.warning("local serving keeps torch's float32 products: %s", _lib_error)
        return _lib is not None


def unavailable_reason() -> str | None:
    return _lib_error


@dataclass
class PackedQ4:
    codes: torch.Tensor  # [out, in/2] uint8
    d: torch.Tensor  # [out, in/32] float16 (the block scales)
    m: torch.Tensor  # [out, in/32] float16 (the block offsets)
    lib: ctypes.CDLL

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape[0], self.codes.shape[1] * 2

    @property
    def nbytes(self) -> int:
        return self.codes.numel() + 2 * (self.d.numel() + self.m.numel())

    def __call__(
        self,
        x: torch.Tensor,
        a: torch.Tensor | None = None,
        b: torch.Tensor | None = None,
        bounds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x @ W.T``, plus a LoRA pair when given: a [rank, in] and ``b`` holding B transposed,
        [rank, out]; or, with ``bounds`` (int64 [segments + 1], the output rows of each fused
        projection), [rank / segments, out], each segment's rows meeting only its own rank's
        share of ``x @ a.T``. Contiguous float32, rank at most ``MAX_RANK``."""
        out, inn = self.shape
        flat = x.reshape(-1, inn).contiguous()
        y = torch.empty(flat.shape[0], out)
        rank = 0 if a is None or b is None else a.shape[0]
        self.lib.q4_gemv(
            self.codes.data_ptr(), self.d.data_ptr(), self.m.data_ptr(), flat.data_ptr(),
            y.data_ptr(), out, inn, flat.shape[0],
            a.data_ptr() if rank and a is not None else None,
            b.data_ptr() if rank and b is not None else None, rank,
            bounds.data_ptr() if rank and bounds is not None else None,
            bounds.numel() - 1 if rank and bounds is not None else 0,
        )  # fmt: skip
        return y.view(*x.shape[:-1], out)


@dataclass
class PackedQ8:
    codes: torch.Tensor  # [out, in] int8
    d: torch.Tensor  # [out, in/32] float16
    lib: ctypes.CDLL

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.codes.shape)  # type: ignore[return-value]

    @property
    def nbytes(self) -> int:
        return self.codes.numel() + 2 * self.d.numel()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out, inn = self.shape
        flat = x.reshape(-1, inn).contiguous()
        y = torch.empty(flat.shape[0], out)
        self.lib.q8_gemv(
            self.codes.data_ptr(), self.d.data_ptr(), flat.data_ptr(), y.data_ptr(), out, inn, flat.shape[0]
        )
        return y.view(*x.shape[:-1], out)


def _usable(w: torch.Tensor) -> bool:
    return w.dim() == 2 and w.dtype == torch.float32 and w.device.type == "cpu" and w.shape[1] % BLOCK == 0


def pack_q4(w: torch.Tensor) -> PackedQ4 | None:
    """``w`` as 4-bit codes if every block of 32 is exactly ``d * q + m`` (q in 0..15, d a
    half-precision number, m the block's smallest weight and a half-precision number), else None."""
    if not _usable(w) or (_lib is None and not available()):
        return None
    assert _lib is not None
    out, inn = w.shape
    w = w.detach().contiguous()
    codes = torch.empty(out, inn // 2, dtype=torch.uint8)
    d = torch.empty(out, inn // BLOCK, dtype=torch.float16)
    m = torch.empty(out, inn // BLOCK, dtype=torch.float16)
    failed = _lib.q4_pack(w.data_ptr(), out, inn, codes.data_ptr(), d.data_ptr(), m.data_ptr())
    return PackedQ4(codes, d, m, _lib) if failed == 0 else None


def pack_q8(w: torch.Tensor) -> PackedQ8 | None:
    """``w`` as 8-bit codes if every block of 32 is exactly ``d * q`` (q in -127..127, d a
    half-precision number), else None."""
    if not _usable(w) or (_lib is None and not available()):
        return None
    assert _lib is not None
    out, inn = w.shape
    w = w.detach().contiguous()
    codes = torch.empty(out, inn, dtype=torch.int8)
    d = torch.empty(out, inn // BLOCK, dtype=torch.float16)
    failed = _lib.q8_pack(w.data_ptr(), out, inn, codes.data_ptr(), d.data_ptr())
    return PackedQ8(codes, d, _lib) if failed == 0 else None


class DecodeStep:
    """One token through a ``FastLlama`` whose products are all codes, in one call of the
    library's ``decode_step`` (the same steps as ``FastLlama.forward`` for one token, in float32):
    per token one call instead of ~700 torch operations and their Python."""

    def __init__(self, fast) -> None:
        assert _lib is not None
        self.lib, self.fast = _lib, fast
        rows = []
        for w in fast.layers:
            row = [w.ln1.data_ptr(), w.ln2.data_ptr()]
            for coded in (w.pqkv, w.po, w.pgu, w.pdown):
                codes, a, b, bounds = coded.codes, coded.a, coded.b, coded.bounds
                row += [codes.codes.data_ptr(), codes.d.data_ptr(), codes.m.data_ptr()]
                row += [0, 0, 0] if a is None or b is None else [a.data_ptr(), b.data_ptr(), a.shape[0]]
                row += [0, 0] if bounds is None else [bounds.data_ptr(), bounds.numel() - 1]
            rows.append(row)
        self.params = torch.tensor(rows, dtype=torch.int64)
        head = fast.lm_head_codes.codes
        self.head_bits = 8 if isinstance(head, PackedQ8) else 4
        parts = [head.codes, head.d] + ([head.m] if isinstance(head, PackedQ4) else [])
        self.head = torch.tensor([t.data_ptr() for t in parts], dtype=torch.int64)
        self.vocab = head.shape[0]
        self.embed = fast.embed.contiguous()
        self.final_norm = fast.norm.contiguous()

    def __call__(self, token: int, cache) -> torch.Tensor:
        f = self.fast
        inter = f._inter
        pos = cache.length
        need = 3 * f.hidden + (f.n_heads + 2 * f.n_kv) * f.head_dim + 3 * inter + cache.capacity
        if cache.scratch is None or cache.scratch.numel() < need:
            cache.scratch = torch.empty(need)
        dims = torch.tensor(
            [f.n_layers, f.hidden, f.n_heads, f.n_kv, f.head_dim, inter, self.vocab, cache.capacity,
             pos, self.head_bits],
            dtype=torch.int64,
        )  # fmt: skip
        logits = torch.empty(self.vocab)
        cos, sin = f._cos[pos].contiguous(), f._sin[pos].contiguous()
        self.lib.decode_step(
            dims.data_ptr(), f.eps, f.scale, self.params.data_ptr(), self.final_norm.data_ptr(),
            self.head.data_ptr(), cache.k.data_ptr(), cache.v.data_ptr(), cos.data_ptr(),
            sin.data_ptr(), self.embed[token].data_ptr(), cache.scratch.data_ptr(), logits.data_ptr(),
        )  # fmt: skip
        return logits
