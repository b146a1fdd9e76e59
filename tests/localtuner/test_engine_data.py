import json

import pytest
import torch

from localtuner.engine import DataError
from localtuner.engine.basemodels import load_base
from localtuner.engine.data import (
    IGNORE,
    Example,
    chat_example,
    load_preference,
    load_supervised,
    pack,
    read_jsonl,
)
from localtuner.engine.losses import token_stats


def labelled_text(tokenizer, example):
    return tokenizer.decode([t for t in example.labels if t != IGNORE])


def conversation(*turns):
    return {
        "messages": [
            dict(zip(("role", "content"), t[:2], strict=True), **({"weight": t[2]} if len(t) > 2 else {}))
            for t in turns
        ]
    }


def test_labels_mask_everything_but_assistant_tokens(tokenizer):
    ex = chat_example(
        tokenizer,
        conversation(("system", "Be brief."), ("user", "Colour of the sky?"), ("assistant", "Blue.")),
        1,
        512,
    )
    assert labelled_text(tokenizer, ex) == "Blue.<|im_end|>\n"
    assert tokenizer.decode(ex.input_ids) == tokenizer.apply_chat_template(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Colour of the sky?"},
            {"role": "assistant", "content": "Blue."},
        ],
        tokenize=False,
    )


def test_assistant_messages_with_weight_zero_are_masked(tokenizer):
    ex = chat_example(
        tokenizer,
        conversation(
            ("user", "Hi"), ("assistant", "Bad answer", 0), ("user", "Again"), ("assistant", "Good answer", 1)
        ),
        1,
        512,
    )
    assert labelled_text(tokenizer, ex) == "Good answer<|im_end|>\n"


def test_over_long_examples_are_truncated(tokenizer):
    ex = chat_example(tokenizer, conversation(("user", "word " * 300), ("assistant", "ok")), 1, 64)
    assert len(ex.input_ids) == len(ex.labels) == 64


def test_targets_are_shifted_within_the_example():
    ex = Example([5, 6, 7, 8], [IGNORE, IGNORE, 7, 8])
    assert ex.targets == [IGNORE, 7, 8, IGNORE]


def _examples(tokenizer):
    rows = [
        conversation(("user", "red"), ("assistant", "apple")),
        conversation(
            ("system", "You translate."),
            ("user", "Hello, how are you today?"),
            ("assistant", "Hallo, wie geht es dir heute?"),
        ),
        conversation(("user", "2+2?"), ("assistant", "4", 0), ("user", "and 3+3?"), ("assistant", "6")),
        conversation(("user", "Write JSON with a name."), ("assistant", '{"name": "Ada"}')),
        conversation(("user", "yellow"), ("assistant", "banana, and a rather long explanation about why")),
    ]
    return [chat_example(tokenizer, r, i + 1, 512) for i, r in enumerate(rows)]


def test_packing_fills_one_row_without_padding_and_restarts_positions(tokenizer):
    examples = _examples(tokenizer)
    batch = pack(examples, 512, tokenizer.pad_token_id)
    total = sum(len(e) for e in examples)
    assert batch.input_ids.shape == (1, total) and batch.n_pad == 0 and batch.n_tokens == total
    starts = (batch.position_ids[0] == 0).nonzero().flatten().tolist()
    assert len(starts) == len(examples)
    for i, e in enumerate(examples):
        assert (batch.segment_ids == i).sum() == len(e)


def test_packing_into_short_rows_never_splits_an_example(tokenizer):
    examples = _examples(tokenizer)
    longest = max(len(e) for e in examples)
    batch = pack(examples, longest, tokenizer.pad_token_id)
    assert batch.input_ids.shape[1] <= longest
    assert batch.n_tokens == sum(len(e) for e in examples)
    for i in range(len(examples)):
        rows = set((batch.segment_ids == i).nonzero()[:, 0].tolist())
        assert len(rows) == 1


def test_packed_loss_equals_the_sum_of_unpacked_losses(tokenizer, cache_dir):
    model, _ = load_base("fineweb-tiny", cache_dir=cache_dir, device="cpu")
    examples = _examples(tokenizer)
    with torch.no_grad():
        packed_sum, packed_correct, packed_n = token_stats(model, pack(examples, 512, tokenizer.pad_token_id))
        alone = [token_stats(model, pack([e], 512, tokenizer.pad_token_id)) for e in examples]
        # Sensitivity check: the same packed row with positions that do not restart lets
        # attention cross examples, and the loss changes.
        crossing = pack(examples, 512, tokenizer.pad_token_id)
        crossing.position_ids = torch.arange(crossing.input_ids.shape[1]).unsqueeze(0)
        crossing_sum, _, _ = token_stats(model, crossing)
    unpacked_sum = sum(float(s) for s, _, _ in alone)
    assert packed_n == sum(n for _, _, n in alone) == sum(e.n_trained for e in examples)
    packed_error = abs(float(packed_sum) - unpacked_sum)
    assert packed_error < 1e-4 * unpacked_sum
    assert int(packed_correct) == sum(int(c) for _, c, _ in alone)
    assert abs(float(crossing_sum) - unpacked_sum) > 100 * max(packed_error, 1e-5)


def test_malformed_lines_raise_data_error_naming_the_line(tmp_path, tokenizer):
    good = json.dumps(conversation(("user", "hi"), ("assistant", "hello")))
    cases = {
        "{not json": "invalid JSON",
        "[1, 2]": "expected a JSON object",
        '{"prompt": "x"}': "missing 'messages'",
        json.dumps({"messages": [{"role": "wizard", "content": "x"}]}): "role",
        json.dumps({"messages": [{"role": "user", "content": "x"}]}): "at least one assistant",
        json.dumps(conversation(("user", "x", 0), ("assistant", "y"))): "weight",
        json.dumps(conversation(("user", "x"), ("assistant", "y", 2))): "weight must be 0 or 1",
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url"}]},
                    {"role": "assistant", "content": "y"},
                ]
            }
        ): "text only",
    }
    for bad, fragment in cases.items():
        path = tmp_path / "train.jsonl"
        path.write_text(good + "\n\n" + bad + "\n", encoding="utf-8")
        with pytest.raises(DataError) as info:
            load_supervised(path, tokenizer, 512)
        assert info.value.line_no == 3
        assert str(info.value).startswith("line 3:")
        assert fragment in str(info.value)


def test_an_empty_file_is_a_data_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no examples"):
        read_jsonl(path)


def test_preference_examples_label_only_the_two_answers(tmp_path, tokenizer):
    path = tmp_path / "prefs.jsonl"
    path.write_text(
        json.dumps(
            {
                "input": {"messages": [{"role": "user", "content": "Capital of France?"}]},
                "preferred_output": [{"role": "assistant", "content": "Paris"}],
                "non_preferred_output": [{"role": "assistant", "content": "Lyon"}],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    (pair,) = load_preference(path, tokenizer, 512)
    assert labelled_text(tokenizer, pair.chosen) == "Paris<|im_end|>\n"
    assert labelled_text(tokenizer, pair.rejected) == "Lyon<|im_end|>\n"


def test_a_chat_line_in_a_preference_file_is_explained(tmp_path, tokenizer):
    path = tmp_path / "prefs.jsonl"
    path.write_text(json.dumps(conversation(("user", "hi"), ("assistant", "hello"))) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: this is a chat"):
        load_preference(path, tokenizer, 512)
