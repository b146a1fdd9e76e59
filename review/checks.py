"""One example checked with the upload's own rules: the same format checks (`datasets_app.rules`),
privacy scan (`datasets_app.privacy`), token counter and limit as `datasets_app.checker`, so an
example the reviewers fix is judged exactly as the upload judged the file."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from datasets_app import privacy, rules
from datasets_app.tokens import MessageCounter
from fineweb.lib.catalogue import model_spec

DPO = "dpo"


@dataclass
class Checked:
    """What the review keeps of one example: problems, token count and the text the filter searches."""

    problems: list[dict] = field(default_factory=list)
    n_tokens: int = 0
    search_text: str = ""

    @property
    def errors(self) -> list[dict]:
        return [p for p in self.problems if p["kind"] == "error"]

    @property
    def warnings(self) -> list[dict]:
        return [p for p in self.problems if p["kind"] == "warning"]

    @property
    def has_privacy(self) -> bool:
        return any(p["code"].startswith("privacy_") for p in self.problems)


class ExampleChecker:
    """Checks examples of one dataset (its method and target model); keeps the token cache warm."""

    def __init__(self, *, method: str, model: str):
        self.method = method
        self.spec = model_spec(model)
        self.counter = MessageCounter(self.spec.encoding)

    def check(self, example: object, raw: bytes | None = None) -> Checked:
        result = Checked()
        if not isinstance(example, dict):
            result.problems.append(
                {"kind": "error", "code": "not_object", "message": "this line is not one example"}
            )
            return result
        raw = raw if raw is not None else orjson.dumps(example)
        errors: rules.Problems = []
        warnings: rules.Problems = []
        check = rules.check_dpo if self.method == DPO else rules.check_supervised
        try:
            messages = check(example, errors, warnings)
        except Exception:  # noqa: BLE001 - a shape no rule foresaw is still an error, not a 500
            errors.append(("unchecked", "this example has a shape the format does not allow"))
            messages = None
        warnings.extend(privacy.scan(raw))
        if messages is not None:
            holder = example.get("input") if self.method == DPO else example
            holder = holder if isinstance(holder, dict) else {}
            result.n_tokens = self.counter.messages(messages, holder.get("tools"), holder.get("functions"))
            limit = self.spec.max_tokens_per_example
            if result.n_tokens > limit:
                errors.append(
                    (
                        "too_long",
                        f"{result.n_tokens:,} tokens, over the limit of {limit:,} per example for "
                        f"{self.spec.name} (the end, with the answer, would be cut off)",
                    )
                )
        result.problems = [{"kind": "error", "code": c, "message": m} for c, m in errors] + [
            {"kind": "warning", "code": c, "message": m} for c, m in warnings
        ]
        result.search_text = " ".join(_texts(example)).lower()[:20_000]
        return result


def _texts(value: object) -> list[str]:
    """Every string inside the example, in order (roles and keys left out)."""
    out: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(reversed([v for k, v in item.items() if k not in ("role", "type")]))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return out
