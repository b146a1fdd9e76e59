"""Checking request bodies: each function turns an OpenAI-shaped body into keyword arguments for a
service, or raises a 400 that names the parameter and says what is wrong."""

from __future__ import annotations

import re
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from localtuner.api import bad_request

AUTO = "auto"
SUFFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# (name, kind, low, high, low_exclusive) for each hyperparameter the local trainer understands.
HYPERPARAMETERS = {
    "n_epochs": (int, 1, 50, False),
    "batch_size": (int, 1, 256, False),
    "learning_rate_multiplier": (float, 0.0, None, True),
}
DPO_HYPERPARAMETERS = {**HYPERPARAMETERS, "beta": (float, 0.0, 2.0, True)}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_str(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{name} must be a string.", param=name)
    return value or None


def _hyperparameters(raw: Any, allowed: dict, where: str) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise bad_request(f"{where} must be an object.", param=where)
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in allowed:
            raise bad_request(
                f"{where}.{name} is not a hyperparameter of this method; use {', '.join(sorted(allowed))}.",
                param=f"{where}.{name}",
            )
        kind, low, high, low_exclusive = allowed[name]
        if value is None or value == AUTO:
            out[name] = AUTO
            continue
        ok = _is_int(value) if kind is int else _is_number(value)
        if ok:
            too_low = value <= low if low_exclusive else value < low
            ok = not too_low and (high is None or value <= high)
        if not ok:
            bound = f"above {low}" if low_exclusive else f"at least {low}"
            if high is not None:
                bound += f" and at most {high}"
            kind_name = "an integer" if kind is int else "a number"
            raise bad_request(
                f'{where}.{name} must be "auto" or {kind_name} {bound}, not {value!r}.',
                param=f"{where}.{name}",
            )
        out[name] = float(value) if kind is float else value
    return out


def job_params(body: dict) -> dict:
    """Keyword arguments for `job_create` from a POST /fine_tuning/jobs body."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request(
            'model is required: the name of a local base model, e.g. "fineweb-tiny".', param="model"
        )
    training_file = body.get("training_file")
    if not isinstance(training_file, str) or not training_file:
        raise bad_request(
            'training_file is required: the id of a file uploaded with purpose "fine-tune".',
            param="training_file",
        )
    suffix = _optional_str(body, "suffix")
    if suffix is not None and not SUFFIX_RE.match(suffix):
        raise bad_request("suffix must be 1 to 64 letters, digits, '-', '_' or '.'.", param="suffix")
    seed = body.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= 2147483647):
        raise bad_request("seed must be an integer between 0 and 2147483647.", param="seed")
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise bad_request("metadata must be an object of string values.", param="metadata")
    integrations = body.get("integrations")
    if integrations:
        raise bad_request("The local provider has no integrations (such as wandb).", param="integrations")

    method_type: str | None
    method_type, hyper = (
        "supervised",
        _hyperparameters(body.get("hyperparameters"), HYPERPARAMETERS, "hyperparameters"),
    )
    method = body.get("method")
    if method is not None:
        if not isinstance(method, dict):
            raise bad_request('method must be an object like {"type": "supervised"}.', param="method")
        method_type = method.get("type")
        if method_type not in ("supervised", "dpo"):
            raise bad_request(
                f'method.type must be "supervised" or "dpo" on the local provider, not {method_type!r}.',
                param="method.type",
            )
        section = method.get(method_type) or {}
        if not isinstance(section, dict):
            raise bad_request(f"method.{method_type} must be an object.", param=f"method.{method_type}")
        allowed = DPO_HYPERPARAMETERS if method_type == "dpo" else HYPERPARAMETERS
        method_hyper = _hyperparameters(
            section.get("hyperparameters"), allowed, f"method.{method_type}.hyperparameters"
        )
        if hyper and method_hyper:
            raise bad_request(
                "Give hyperparameters either at the top level (deprecated) or in method, not both.",
                param="hyperparameters",
            )
        hyper = method_hyper or hyper
    return {
        "model": model,
        "training_file": training_file,
        "validation_file": _optional_str(body, "validation_file"),
        "suffix": suffix,
        "seed": seed,
        "method": method_type,
        "hyperparameters": hyper,
        "metadata": metadata,
    }


def chat_params(body: dict, *, default_max_tokens: int) -> dict:
    """Keyword arguments for the chat service from a POST /chat/completions body."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list of chat messages.", param="messages")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise bad_request("stream must be true or false.", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise bad_request("stream_options must be an object.", param="stream_options")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is None:
        max_tokens = default_max_tokens
    elif not _is_int(max_tokens) or max_tokens < 1:
        raise bad_request("max_tokens must be a positive integer.", param="max_tokens")
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    if top_p == 0:
        raise bad_request("top_p must be above 0.", param="top_p")
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and (
        not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) and s for s in stop)
    ):
        raise bad_request("stop must be a string or a list of up to 4 non-empty strings.", param="stop")
    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise bad_request("seed must be an integer.", param="seed")
    n = body.get("n")
    if n not in (None, 1):
        raise bad_request("The local provider returns one choice per request: n must be 1.", param="n")
    if body.get("tools"):
        raise bad_request("The local models do not call tools.", param="tools")
    return {
        "model": model,
        "messages": messages,
        "stream": stream,
        "include_usage": bool(options.get("include_usage")),
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "stop": stop or None,
        "seed": seed,
    }


def _number(body: dict, name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if not _is_number(value) or not low <= value <= high:
        raise bad_request(f"{name} must be a number between {low:g} and {high:g}.", param=name)
    return float(value)


# --- the local provider's own "auto" rule, for the launch form ------------------------------


@lru_cache(maxsize=1)
def _device() -> str:
    from localtuner.engine.basemodels import pick_device

    return pick_device()


def _given(value: Any, kind: type) -> Any:
    if value is None or value == AUTO or isinstance(value, bool):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def launch_plan(*, n_examples: int, hyperparameters: dict, base_model: str) -> dict:
    """What the local provider will train for `n_examples` training examples and the form's
    settings ("auto" or numbers): the engine's own rule (localtuner/engine/hyper.py `plan`), plus
    whether the base model must be converted first and how long that took when last recorded."""
    from django.conf import settings

    from localtuner.engine.basemodels import conversion
    from localtuner.engine.hyper import plan

    result = asdict(
        plan(
            n_examples,
            _device(),
            n_epochs=_given(hyperparameters.get("n_epochs"), int),
            batch_size=_given(hyperparameters.get("batch_size"), int),
            learning_rate_multiplier=_given(hyperparameters.get("learning_rate_multiplier"), float),
        )
    )
    converted, seconds = conversion(base_model, Path(settings.FINEWEB_MODEL_CACHE_DIR))
    result.update(converted=converted, conversion_seconds=seconds)
    return result
