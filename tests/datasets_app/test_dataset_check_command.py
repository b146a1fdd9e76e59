"""manage.py dataset_check: the page's errors and statistics for scripts, with exit codes."""

from __future__ import annotations

import subprocess
import sys

from tests.factories import good_lines
from tests.processes import ROOT


def run(*args):
    return subprocess.run(
        [sys.executable, "manage.py", "dataset_check", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_good_file_prints_statistics_and_exits_0(write):
    result = run(write(good_lines(12)))
    assert result.returncode == 0, result.stderr
    assert "examples: 12" in result.stdout
    assert "errors: 0, warnings: 0" in result.stdout
    # 12 examples x 29 tokens = 348; 100 // 12 = 8 epochs; 2,784 tokens x $3 / 1M = $0.008 -> $0.01
    assert "estimated cost: $0.01 for 2784 billed tokens (8 epochs" in result.stdout


def test_a_bad_file_prints_each_error_as_line_n_and_exits_1(write):
    lines = good_lines(20)
    lines[16] = {"messages": [{"role": "user", "content": "x"}]}
    lines[18] = {"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]}
    result = run(write(lines))
    assert result.returncode == 1
    assert "error: line 17: the last message must come from the assistant" in result.stdout
    assert "error: line 19: message 1 has the role 'bot'" in result.stdout
    assert "errors: 2, warnings: 0" in result.stdout


def test_the_model_and_method_options_are_used(write):
    dpo = [
        {
            "input": {"messages": [{"role": "user", "content": f"q{i}"}]},
            "preferred_output": [{"role": "assistant", "content": "gut"}],
            "non_preferred_output": [{"role": "assistant", "content": "schlecht"}],
        }
        for i in range(12)
    ]
    path = write(dpo)
    assert run(path).returncode == 1
    result = run(path, "--method", "dpo", "--model", "gpt-3.5-turbo")
    assert result.returncode == 0, result.stdout
    assert "(limit 16385)" in result.stdout


def test_warnings_do_not_fail_the_check(write):
    result = run(write(good_lines(12) + good_lines(1)))
    assert result.returncode == 0
    assert "warning: line 13: exact duplicate of line 1" in result.stdout


def test_a_missing_file_is_an_error_not_a_traceback(tmp_path):
    result = run(tmp_path / "nope.jsonl")
    assert result.returncode == 1 and "no such file" in result.stderr and "Traceback" not in result.stderr
