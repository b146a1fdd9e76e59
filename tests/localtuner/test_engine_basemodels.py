import pytest
import torch

from localtuner.engine import UnknownModel, list_base_models, load_base, pick_device
from localtuner.engine.basemodels import build_tiny_model


def test_registry_lists_the_real_and_the_tiny_model():
    assert list_base_models() == ["SmolLM2-135M-Instruct", "fineweb-tiny"]


def test_tiny_model_is_the_same_every_time_it_is_built_or_loaded(cache_dir):
    loaded, tokenizer = load_base("fineweb-tiny", cache_dir=cache_dir, device="cpu")
    again, _ = load_base("fineweb-tiny", cache_dir=cache_dir, device="cpu")
    fresh = build_tiny_model().state_dict()
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name])
        assert torch.equal(tensor, fresh[name])
    assert type(loaded).__name__ == "LlamaForCausalLM"
    assert loaded.config.hidden_size == 64 and loaded.config.num_hidden_layers == 2


def test_a_different_seed_gives_different_tiny_weights():
    a = build_tiny_model(1).model.embed_tokens.weight
    b = build_tiny_model(2).model.embed_tokens.weight
    assert not torch.equal(a, b)


def test_tiny_model_uses_the_smollm2_tokenizer_and_chat_template(tokenizer):
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    assert tokenizer.eos_token == "<|im_end|>" and len(tokenizer) == 49152


def test_unknown_model_raises(cache_dir):
    with pytest.raises(UnknownModel) as info:
        load_base("gpt-5", cache_dir=cache_dir)
    assert "gpt-5" in str(info.value)


def test_device_is_cuda_only_when_available():
    assert pick_device() == ("cuda" if torch.cuda.is_available() else "cpu")
