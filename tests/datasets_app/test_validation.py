"""The validator: every rule of OpenAI's per-line formats and every bad input, line-precise."""

from __future__ import annotations

import io
import json
import zipfile

from datasets_app.validation import DPO, format_problem, validate_file
from tests.factories import chat, good_lines, jsonl


def problems(report, kind="errors") -> list[str]:
    return [format_problem(p) for p in getattr(report, kind)]


def with_line(lines: list, number: int, example) -> list:
    """The good lines with line `number` (1-based) replaced by `example`."""
    lines = list(lines)
    lines[number - 1] = example
    return lines


def test_a_good_file_has_no_errors_and_counts_every_example(write):
    report = validate_file(write(good_lines(12)))
    assert report.ok
    assert report.errors == [] and report.warnings == []
    assert report.stats["n_examples"] == 12
    assert report.stats["n_counted"] == 12


def test_it_reports_the_last_message_not_from_the_assistant_with_its_line_number(write):
    bad = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hallo"},
            {"role": "user", "content": "And?"},
        ]
    }
    report = validate_file(write(with_line(good_lines(20), 17, bad)))
    assert problems(report) == ["line 17: the last message must come from the assistant"]


def test_it_shows_every_bad_line_not_only_the_first(write):
    lines = good_lines(20)
    for n in (3, 9, 15):
        lines[n - 1] = {"messages": [{"role": "user", "content": "no answer"}]}
    report = validate_file(write(lines))
    assert [p["line"] for p in report.errors] == [3, 9, 15]
    assert report.error_count == 3


def test_it_needs_at_least_ten_examples(write):
    report = validate_file(write(good_lines(9)))
    assert not report.ok
    assert "The file has 9 examples; fine-tuning needs at least 10" in problems(report)[0]


def test_it_rejects_an_unknown_role(write):
    bad = {"messages": [{"role": "bot", "content": "Hi"}, {"role": "assistant", "content": "Hallo"}]}
    report = validate_file(write(with_line(good_lines(12), 2, bad)))
    assert problems(report) == [
        "line 2: message 1 has the role 'bot'; use system, user, assistant, tool or function"
    ]


def test_it_rejects_a_message_without_a_role(write):
    bad = {"messages": [{"content": "Hi"}, {"role": "assistant", "content": "Hallo"}]}
    report = validate_file(write(with_line(good_lines(12), 4, bad)))
    assert "line 4: message 1 has no role" in problems(report)[0]


def test_weight_must_be_zero_or_one(write):
    bad = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hallo", "weight": 2},
        ]
    }
    report = validate_file(write(with_line(good_lines(12), 5, bad)))
    assert problems(report) == ["line 5: message 2 (assistant): weight must be 0 or 1, not 2"]


def test_weight_true_is_not_accepted_as_one(write):
    bad = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hallo", "weight": True},
        ]
    }
    report = validate_file(write(with_line(good_lines(12), 5, bad)))
    assert "weight must be 0 or 1" in problems(report)[0]


def test_weight_is_only_allowed_on_assistant_messages(write):
    bad = {
        "messages": [
            {"role": "user", "content": "Hi", "weight": 1},
            {"role": "assistant", "content": "Hallo"},
        ]
    }
    report = validate_file(write(with_line(good_lines(12), 6, bad)))
    assert problems(report) == ["line 6: message 1 (user): weight is only allowed on assistant messages"]


def test_an_example_whose_assistant_messages_all_have_weight_zero_teaches_nothing(write):
    bad = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hallo", "weight": 0},
        ]
    }
    report = validate_file(write(with_line(good_lines(12), 7, bad)))
    assert problems(report) == [
        "line 7: every assistant message has weight 0, so there is nothing to learn from"
    ]


def test_weighted_multi_turn_examples_are_valid_and_only_weighted_answers_count_as_trained(write):
    ex = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hallo", "weight": 0},
            {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Tschüss", "weight": 1},
        ]
    }
    report = validate_file(write([ex] * 1 + good_lines(11)))
    assert report.ok, problems(report)


def test_it_rejects_an_assistant_message_without_content_or_tool_calls(write):
    bad = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant"}]}
    report = validate_file(write(with_line(good_lines(12), 8, bad)))
    assert problems(report) == ["line 8: message 2 (assistant) needs content (or tool_calls)"]


def test_it_rejects_an_unknown_key_on_a_message(write):
    bad = {
        "messages": [
            {"role": "user", "content": "Hi", "mood": "happy"},
            {"role": "assistant", "content": "Hallo"},
        ]
    }
    report = validate_file(write(with_line(good_lines(12), 1, bad)))
    assert problems(report) == ["line 1: message 1 (user) has an unknown key 'mood'"]


def test_audio_input_is_not_supported_for_fine_tuning(write):
    bad = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}],
            },
            {"role": "assistant", "content": "Hallo"},
        ]
    }
    report = validate_file(write(with_line(good_lines(12), 2, bad)))
    assert "input_audio parts are not supported for fine-tuning" in problems(report)[0]


def test_text_and_image_parts_are_accepted(write):
    ex = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "Eine Katze."}]},
        ]
    }
    report = validate_file(write([ex] + good_lines(11)))
    assert report.ok, problems(report)


def tool_example(**overrides) -> dict:
    ex = {
        "messages": [
            {"role": "user", "content": "Weather in Berlin?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Berlin"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
            {"role": "assistant", "content": "Es sind 21 Grad in Berlin."},
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
        ],
        "parallel_tool_calls": False,
    }
    ex.update(overrides)
    return ex


def test_a_tool_calling_example_is_valid(write):
    report = validate_file(write([tool_example()] + good_lines(11)))
    assert report.ok, problems(report)


def test_a_tool_call_without_an_id_is_an_error(write):
    ex = tool_example()
    del ex["messages"][1]["tool_calls"][0]["id"]
    report = validate_file(write([ex] + good_lines(11)))
    assert problems(report) == [
        'line 1: message 2 (assistant): tool call 1 needs an "id", "type": "function" and a "function"'
    ]


def test_a_tool_message_needs_a_tool_call_id(write):
    ex = tool_example()
    del ex["messages"][2]["tool_call_id"]
    report = validate_file(write([ex] + good_lines(11)))
    assert problems(report) == [
        "line 1: message 3 (tool) needs a tool_call_id naming the tool call it answers"
    ]


def test_tool_arguments_that_are_not_json_are_a_warning(write):
    ex = tool_example()
    ex["messages"][1]["tool_calls"][0]["function"]["arguments"] = "{city: Berlin"
    report = validate_file(write([ex] + good_lines(11)))
    assert report.ok
    assert problems(report, "warnings") == [
        "line 1: message 2 (assistant): tool call 1 has arguments that are not valid JSON"
    ]


def test_a_tool_with_a_bad_name_is_an_error(write):
    ex = tool_example(tools=[{"type": "function", "function": {"name": "get weather!"}}])
    report = validate_file(write([ex] + good_lines(11)))
    assert problems(report) == ["line 1: tool 1 needs a name of 1-64 letters, digits, _ or -"]


def test_functions_must_be_a_non_empty_list(write):
    ex = chat(0)
    ex["functions"] = []
    report = validate_file(write([ex] + good_lines(11)))
    assert problems(report) == ["line 1: functions must be a list of 1 to 128 functions"]


def test_the_legacy_prompt_completion_format_gets_a_clear_message(write):
    report = validate_file(write([{"prompt": "Hi", "completion": "Hallo"}] + good_lines(11)))
    assert "old prompt/completion format" in problems(report)[0]


def test_a_dpo_line_in_a_supervised_file_says_to_choose_dpo(write):
    report = validate_file(write([dpo_example()] + good_lines(11)))
    assert problems(report) == [
        "line 1: this is a DPO preference example; choose the DPO method for this file"
    ]


def dpo_example(i: int = 0) -> dict:
    return {
        "input": {"messages": [{"role": "user", "content": f"Greet me ({i})"}]},
        "preferred_output": [{"role": "assistant", "content": "Hallo!"}],
        "non_preferred_output": [{"role": "assistant", "content": "Hello!"}],
    }


def test_a_good_dpo_file_is_valid_and_counted(write):
    report = validate_file(write([dpo_example(i) for i in range(12)]), method=DPO)
    assert report.ok, problems(report)
    assert report.stats["n_counted"] == 12 and report.stats["total_tokens"] > 0


def test_dpo_needs_both_outputs(write):
    bad = dpo_example()
    del bad["non_preferred_output"]
    report = validate_file(write([bad] + [dpo_example(i) for i in range(11)]), method=DPO)
    assert problems(report) == ['line 1: the example needs "non_preferred_output"']


def test_dpo_outputs_hold_exactly_one_assistant_message(write):
    bad = dpo_example()
    bad["preferred_output"] = [{"role": "user", "content": "x"}]
    bad2 = dpo_example()
    bad2["non_preferred_output"] = []
    report = validate_file(write([bad, bad2] + [dpo_example(i) for i in range(10)]), method=DPO)
    assert problems(report) == [
        "line 1: preferred_output must hold an assistant message, not user",
        "line 2: non_preferred_output must be a list with exactly one assistant message",
    ]


def test_dpo_input_must_not_end_with_the_assistant(write):
    bad = dpo_example()
    bad["input"]["messages"].append({"role": "assistant", "content": "Hallo"})
    report = validate_file(write([bad] + [dpo_example(i) for i in range(11)]), method=DPO)
    assert "line 1: the last input message must come from the user" in problems(report)[0]


def test_a_supervised_line_in_a_dpo_file_is_explained(write):
    report = validate_file(write([chat(0)] + [dpo_example(i) for i in range(11)]), method=DPO)
    assert "this is a supervised chat example" in problems(report)[0]


def test_identical_dpo_outputs_are_a_warning(write):
    same = dpo_example()
    same["non_preferred_output"] = same["preferred_output"]
    report = validate_file(write([same] + [dpo_example(i) for i in range(1, 12)]), method=DPO)
    assert report.ok
    assert "nothing to prefer" in problems(report, "warnings")[0]


def test_invalid_json_on_a_line_says_where(write):
    report = validate_file(write(good_lines(12)[:5] + ['{"messages": [}'] + good_lines(12)[5:]))
    assert problems(report) == ["line 6: not valid JSON: expecting value (column 15)"]
    assert report.stats["n_examples"] == 13


def test_pretty_printed_json_gets_a_hint_about_one_example_per_line(write):
    pretty = json.dumps(chat(0), indent=2).encode()
    report = validate_file(write(pretty + b"\n" + jsonl(good_lines(12))))
    assert "an example must fit on one line" in problems(report)[0]
    assert problems(report)[0].startswith("line 1: not valid JSON")


def test_a_json_array_instead_of_jsonl_is_one_clear_error(write):
    report = validate_file(write(json.dumps(good_lines(12)).encode()))
    assert report.error_count == 1
    assert "one JSON array ([ ... ]), not JSON Lines" in problems(report)[0]


def test_a_line_that_is_a_list_is_not_an_example(write):
    report = validate_file(write(good_lines(12) + ['["a", "b"]']))
    assert problems(report) == ["line 13: expected one JSON object {...} per line, found a list"]


def test_utf16_is_detected_by_its_bom_and_explained(write):
    report = validate_file(write(jsonl(good_lines(12)).decode().encode("utf-16")))
    assert report.error_count == 1
    assert "encoded as UTF-16 (little-endian), not UTF-8" in problems(report)[0]
    assert "Re-save it as UTF-8" in problems(report)[0]


def test_utf16_without_a_bom_is_detected_by_its_nul_bytes(write):
    report = validate_file(write(jsonl(good_lines(12)).decode().encode("utf-16-be")))
    assert "UTF-16 (big-endian)" in problems(report)[0]


def test_latin1_lines_are_named_with_their_encoding_and_the_fix(write):
    lines = good_lines(12)
    lines[3] = chat(3, answer="Grüße aus Köln")
    content = jsonl(lines).decode()
    raw = "\n".join(line if i != 3 else line for i, line in enumerate(content.splitlines()))
    latin = b"\n".join(
        line.encode("latin-1") if i == 3 else line.encode() for i, line in enumerate(raw.splitlines())
    )
    report = validate_file(write(latin + b"\n"))
    [message] = problems(report)
    assert message.startswith("line 4: not UTF-8 (byte 0x")
    assert "Latin-1 / Windows-1252" in message and "Re-save it as UTF-8" in message


def test_a_utf8_bom_is_accepted_with_a_warning(write):
    report = validate_file(write(b"\xef\xbb\xbf" + jsonl(good_lines(12))))
    assert report.ok
    assert problems(report, "warnings")[0].startswith(
        "line 1: the file starts with a UTF-8 byte-order mark (BOM)"
    )


def test_blank_lines_are_skipped_with_a_warning(write):
    content = jsonl(good_lines(6)) + b"\n   \n" + jsonl([chat(i) for i in range(6, 12)])
    report = validate_file(write(content))
    assert report.ok
    assert problems(report, "warnings") == ["line 7: blank line, skipped", "line 8: blank line, skipped"]
    assert report.stats["n_examples"] == 12 and report.stats["n_blank"] == 2


def test_a_zip_renamed_to_jsonl_is_recognised_by_its_magic_bytes(write):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.jsonl", jsonl(good_lines(12)))
    report = validate_file(write(buffer.getvalue(), name="data.jsonl"))
    assert problems(report) == [
        "This is a ZIP archive (perhaps renamed to .jsonl), not a text file. Unzip it and upload the .jsonl file inside."
    ]


def test_an_empty_file_is_one_clear_error(write):
    report = validate_file(write(b""))
    assert problems(report) == ["The file is empty: it needs one JSON example per line."]


def test_a_file_of_only_blank_lines_says_so(write):
    report = validate_file(write(b"\n\n  \n"))
    assert "only blank lines" in problems(report)[0]


def test_exact_duplicate_examples_are_warnings_naming_the_first_copy(write):
    lines = good_lines(12)
    lines.append(lines[2])
    lines.append(lines[2])
    report = validate_file(write(lines))
    assert report.ok
    assert problems(report, "warnings") == [
        "line 13: exact duplicate of line 3",
        "line 14: exact duplicate of line 3",
    ]
    assert report.stats["n_duplicates"] == 2


def test_personal_data_and_secrets_are_flagged_before_anything_is_sent(write):
    lines = good_lines(12)
    lines[0] = chat(0, user="Write to max.mustermann@example.de please")
    lines[1] = chat(1, user="My key is sk-proj-abcdefghijklmnopqrstuvwxyz0123")
    lines[2] = chat(2, user="Call me at +49 30 1234 5678")
    lines[3] = chat(3, user="AWS AKIAIOSFODNN7EXAMPLE")
    lines[4] = chat(4, user="Authorization: Bearer abcdefghijklmnopqrstuvwxyz.0123456789")
    report = validate_file(write(lines))
    warnings = problems(report, "warnings")
    assert report.ok
    assert warnings[0].startswith("line 1: looks like an e-mail address (ma…@example.de)")
    assert warnings[1].startswith("line 2: looks like an OpenAI API key (sk-pro…")
    assert warnings[2].startswith("line 3: looks like a phone number")
    assert warnings[3].startswith("line 4: looks like an AWS access key")
    assert warnings[4].startswith("line 5: looks like a bearer token")
    assert "abcdefghijklmnopqrstuvwxyz0123" not in " ".join(warnings), "a secret is never shown in full"


def test_an_example_over_the_models_limit_is_an_error(write):
    lines = good_lines(12)
    lines[10] = chat(10, answer="Wort " * 17000)
    report = validate_file(write(lines), model="gpt-3.5-turbo-0125")
    [message] = problems(report)
    assert message.startswith("line 11: 17,")
    assert "over the limit of 16,385 per example for gpt-3.5-turbo-0125" in message
    assert report.stats["n_over"] == 1
    assert (
        report.stats["tokens_capped_total"]
        == report.stats["total_tokens"] - report.stats["tokens_max"] + 16385
    )


def test_a_line_longer_than_the_line_cap_is_skipped_without_holding_it(write, monkeypatch):
    from datasets_app import lines

    monkeypatch.setattr(lines, "MAX_LINE_BYTES", 1024)
    rows = good_lines(12)
    rows[5] = chat(5, answer="x" * 5000)
    report = validate_file(write(rows))
    assert problems(report) == ["line 6: longer than 1,024 bytes, the most one example may take; skipped"]
    assert report.stats["n_examples"] == 12


def test_problems_beyond_the_stored_cap_are_counted(write, monkeypatch):
    from datasets_app import checker

    monkeypatch.setattr(checker, "MAX_STORED", 5)
    lines = [{"messages": [{"role": "user", "content": f"q{i}"}]} for i in range(20)]
    report = validate_file(write(lines)).to_dict()
    assert len(report["errors"]) == 5 and report["error_count"] == 20
    assert report["error_summary"][0] == {
        "code": "last_not_assistant",
        "count": 20,
        "example": "the last message must come from the assistant",
    }


def test_progress_is_reported_while_reading(write, monkeypatch):
    from datasets_app import lines

    monkeypatch.setattr(lines, "PROGRESS_EVERY_LINES", 3)
    seen: list[int] = []
    validate_file(write(good_lines(12)), on_progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 99 and len(seen) >= 4
