"""Checks the shipped sample datasets in this folder; the ``.jsonl`` files are their source.

    python localtuner/samples/check_samples.py [--cache-dir DIR] [--model NAME]

The samples are a small, hand-written set for two product use cases of Lumora, a fictional shop for
smart-home devices (hub, cameras, plugs, bulbs) with an app and a cloud subscription (Cloud Plus):

* ``german.jsonl`` (48) / ``german_valid.jsonl`` (12): customer-support chats. Users write in
  English (mostly) or German; the assistant always answers in polite German (Sie-form). About 40%
  short questions, 35% longer problem descriptions answered in several sentences or numbered steps,
  25% multi-turn chats; a few have a system prompt naming the company.
* ``json_answers.jsonl`` (48) / ``json_answers_valid.jsonl`` (12): support messages (one-liners,
  ticket forms, long e-mails with signatures and quoted text) turned into the helpdesk API's ticket
  JSON (``ticket_schema.py``). The assistant answer is that JSON and nothing else; a few have a
  system prompt stating the schema, most rely on the format being learned.

What is checked (what ``benchmarks/bench_local_training.py`` relies on): every line is a JSON chat
(optional system message, then user / assistant turns, the assistant last); each file has its size;
no held-out prompt is also in training and no answer appears twice; every ticket answer is exactly
the schema's JSON (keys in order), with ids and e-mails really in the message. With the tokenizer in
the model cache it also checks every chat fits the engine's 512 tokens and prints the token-length
distribution. Exits 1 and names each problem when one is found.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":  # run as a script: make the repository importable
    sys.path.insert(0, str(HERE.parent.parent))

from localtuner.samples.ticket_schema import TICKET_KEYS, reference_errors, ticket_errors  # noqa: E402

# use case -> (training file, held-out file, their sizes)
USE_CASES = {
    "german": ("german.jsonl", "german_valid.jsonl", 48, 12),
    "json_answers": ("json_answers.jsonl", "json_answers_valid.jsonl", 48, 12),
}
MAX_TOKENS = 512  # the engine's max_seq_len: longer chats are cut


def read_rows(path: Path) -> tuple[list[dict], list[str]]:
    """The chats of ``path`` and the problems found reading them (not JSON, not a chat)."""
    rows, problems = [], []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        problems.append(f"{path.name}: the last line has no newline")
    for line_no, line in enumerate(text.splitlines(), start=1):
        where = f"{path.name} line {line_no}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            problems.append(f"{where}: not JSON ({exc})")
            continue
        problems += [f"{where}: {p}" for p in chat_problems(row)]
        rows.append(row)
    return rows, problems


def chat_problems(row) -> list[str]:
    if not isinstance(row, dict) or set(row) != {"messages"} or not isinstance(row["messages"], list):
        return ['not an object with only a "messages" list']
    messages = row["messages"]
    problems = []
    for m in messages:
        if not isinstance(m, dict) or set(m) != {"role", "content"}:
            return ["a message is not an object with only role and content"]
        if not (isinstance(m["content"], str) and m["content"].strip()):
            problems.append(f"an empty {m['role']} message")
    roles = [m["role"] for m in messages]
    if roles[:1] == ["system"]:
        roles = roles[1:]
    if not roles or roles != ["user", "assistant"] * (len(roles) // 2):
        problems.append(f"roles {roles} are not user/assistant turns ending with the assistant")
    return problems


def prompts(row: dict) -> list[str]:
    return [m["content"] for m in row["messages"] if m["role"] == "user"]


def answers(row: dict) -> list[str]:
    return [m["content"] for m in row["messages"] if m["role"] == "assistant"]


def ticket_problems(row: dict) -> list[str]:
    """A ticket chat is one message and its ticket: exactly the schema's JSON, right for the message."""
    if len(prompts(row)) != 1 or len(answers(row)) != 1:
        return ["a ticket chat has one user message and one answer"]
    message, answer = prompts(row)[0], answers(row)[0]
    try:
        ticket = json.loads(answer)
    except ValueError:
        return ["the answer is not JSON"]
    problems = ticket_errors(ticket)
    if problems:
        return problems
    if list(ticket) != list(TICKET_KEYS) or answer != json.dumps(ticket, ensure_ascii=False):
        problems.append(f"the answer is not the ticket's JSON with its keys in order {list(TICKET_KEYS)}")
    return problems + reference_errors(ticket, message)


def problems(folder: Path = HERE) -> list[str]:
    """Every problem of the shipped samples in ``folder`` (empty list: they are fine)."""
    found = []
    for use_case, (train_name, valid_name, n_train, n_valid) in USE_CASES.items():
        files = {}
        for name, size in ((train_name, n_train), (valid_name, n_valid)):
            rows, file_problems = read_rows(folder / name)
            found += file_problems
            if len(rows) != size:
                found.append(f"{name}: {len(rows)} chats, expected {size}")
            if use_case == "json_answers":
                for i, row in enumerate(rows, start=1):
                    found += [f"{name} line {i}: {p}" for p in ticket_problems(row)]
            files[name] = rows
        seen = {p for row in files[train_name] for p in prompts(row)}
        for i, row in enumerate(files[valid_name], start=1):
            if any(p in seen for p in prompts(row)):
                found.append(f"{valid_name} line {i}: a held-out prompt is also in {train_name}")
        all_answers = [a for rows in files.values() for row in rows for a in answers(row)]
        if len(set(all_answers)) != len(all_answers):
            found.append(f"{use_case}: an answer appears twice")
    return found


def token_lengths(tokenizer, folder: Path = HERE) -> dict[str, list[tuple[int, int]]]:
    """Per file, (tokens, answer tokens) of each chat as the engine encodes it for training."""
    from localtuner.engine.data import chat_example

    lengths = {}
    for train_name, valid_name, _, _ in USE_CASES.values():
        for name in (train_name, valid_name):
            rows, _ = read_rows(folder / name)
            examples = [chat_example(tokenizer, row, i + 1, 10**6) for i, row in enumerate(rows)]
            lengths[name] = [(len(e), e.n_trained) for e in examples]
    return lengths


def length_problems(tokenizer, folder: Path = HERE) -> list[str]:
    """Chats the engine would cut (longer than ``MAX_TOKENS``)."""
    return [
        f"{name} line {i}: {n} tokens; the engine cuts chats at {MAX_TOKENS}"
        for name, rows in token_lengths(tokenizer, folder).items()
        for i, (n, _) in enumerate(rows, start=1)
        if n >= MAX_TOKENS
    ]


def padding_share(lengths: list[int], batch_size: int = 8, shuffles: int = 200) -> float:
    """Share of computed positions that are padding when random batches are padded to their longest."""
    padded = useful = 0
    for seed in range(shuffles):
        order = list(lengths)
        random.Random(seed).shuffle(order)
        for i in range(0, len(order), batch_size):
            batch = order[i : i + batch_size]
            padded += max(batch) * len(batch)
            useful += sum(batch)
    return 1 - useful / padded


def print_statistics(tokenizer, model: str) -> None:
    print(f"tokens per chat ({model} chat template, as the engine encodes them):")
    for name, rows in token_lengths(tokenizer).items():
        lengths = sorted(n for n, _ in rows)
        trained = sum(t for _, t in rows)
        print(
            f"  {name:26} {len(rows):3} chats  min/median/max {lengths[0]:3}/{statistics.median(lengths):5.0f}/"
            f"{lengths[-1]:3}  mean {statistics.mean(lengths):5.1f}  total {sum(lengths):6}  "
            f"(answers {trained:5})  padding share in random batches of 8: {padding_share(lengths):.0%}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="SmolLM2-135M-Instruct", help="tokenizer for the length checks")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "fineweb-model-cache")
    args = parser.parse_args()
    found = problems()
    try:
        from localtuner.engine.basemodels import load_tokenizer

        tokenizer = load_tokenizer(args.model, cache_dir=args.cache_dir)
    except (ImportError, OSError, KeyError) as exc:
        print(f"token lengths not checked: {args.model} could not be loaded from {args.cache_dir} ({exc})")
    else:
        found += length_problems(tokenizer)
        print_statistics(tokenizer, args.model)
    for problem in found:
        print(f"PROBLEM {problem}")
    sizes = ", ".join(f"{t} ({nt}) / {v} ({nv})" for t, v, nt, nv in USE_CASES.values())
    print(f"{len(found)} problems in {sizes}" if found else f"ok: {sizes}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
