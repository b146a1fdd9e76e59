import json
import shutil

from localtuner.samples import check_samples
from localtuner.samples.ticket_schema import ticket_errors


def test_the_shipped_samples_pass_their_checker():
    assert check_samples.problems() == []


def test_every_shipped_chat_fits_the_engines_length_limit(tokenizer):
    assert check_samples.length_problems(tokenizer) == []


def test_the_checker_names_a_ticket_that_breaks_the_schema_and_a_missing_chat(tmp_path):
    for name in check_samples.HERE.glob("*.jsonl"):
        shutil.copy(name, tmp_path / name.name)
    lines = (tmp_path / "json_answers_valid.jsonl").read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[0])
    ticket = json.loads(row["messages"][-1]["content"])
    row["messages"][-1]["content"] = json.dumps({**ticket, "urgency": "asap"})
    lines[0] = json.dumps(row, ensure_ascii=False)
    (tmp_path / "json_answers_valid.jsonl").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")

    problems = check_samples.problems(tmp_path)

    assert any(p.startswith("json_answers_valid.jsonl line 1: urgency 'asap'") for p in problems), problems
    assert "json_answers_valid.jsonl: 11 chats, expected 12" in problems


def test_a_ticket_with_unexpected_keys_is_not_a_ticket():
    assert ticket_errors({"intent": "billing"})[0].startswith("keys: missing")
    assert ticket_errors([]) == ["not a JSON object but list"]
