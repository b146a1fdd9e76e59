"""The helpdesk ticket that ``json_answers*.jsonl`` teach: its keys, allowed values, and a checker.

The sample checker (``check_samples.py``) and the quality benchmark
(``benchmarks/bench_local_training.py``) both use it.
"""

from __future__ import annotations

import re

TICKET_KEYS = ("intent", "order_id", "customer_email", "product", "urgency", "summary")
INTENTS = (
    "order_status",
    "return_refund",
    "cancel_order",
    "change_order",
    "billing",
    "technical_issue",
    "account",
    "product_question",
    "complaint",
    "feedback",
    "other",
)
URGENCIES = ("low", "normal", "high")
PRODUCTS = (
    "Lumora Hub",
    "Lumora Cam Indoor",
    "Lumora Cam Outdoor",
    "Lumora Plug",
    "Lumora Bulb",
    "Lumora Starter Set",
    "Lumora Cloud Plus",
    "Lumora App",
)
ORDER_ID = re.compile(r"LM-\d{5}")


def ticket_errors(obj) -> list[str]:
    """What makes ``obj`` not a valid ticket (empty list: valid)."""
    if not isinstance(obj, dict):
        return [f"not a JSON object but {type(obj).__name__}"]
    errors = []
    if tuple(sorted(obj)) != tuple(sorted(TICKET_KEYS)):
        missing = [k for k in TICKET_KEYS if k not in obj]
        extra = [k for k in obj if k not in TICKET_KEYS]
        errors.append(f"keys: missing {missing}, unexpected {extra}")
    if "intent" in obj and obj["intent"] not in INTENTS:
        errors.append(f"intent {obj['intent']!r} is not one of {list(INTENTS)}")
    if "urgency" in obj and obj["urgency"] not in URGENCIES:
        errors.append(f"urgency {obj['urgency']!r} is not one of {list(URGENCIES)}")
    for key in ("order_id", "customer_email", "product"):
        if key in obj and obj[key] is not None and not isinstance(obj[key], str):
            errors.append(f"{key} must be a string or null")
    if "summary" in obj and not (isinstance(obj["summary"], str) and obj["summary"].strip()):
        errors.append("summary must be a non-empty string")
    return errors


def reference_errors(ticket: dict, message: str) -> list[str]:
    """What makes a well-formed reference ticket wrong for the customer ``message`` it answers:
    a product outside the catalogue, an order id or e-mail not in the message, a long or non-ASCII
    summary."""
    errors = []
    product, order_id, email, summary = (
        ticket.get(k) for k in ("product", "order_id", "customer_email", "summary")
    )
    if product is not None and product not in PRODUCTS:
        errors.append(f"product {product!r} is not a Lumora product")
    if order_id is not None and not (ORDER_ID.fullmatch(order_id) and order_id[3:] in message):
        errors.append(f"order_id {order_id!r} is not an LM-12345 id found in the message")
    if email is not None and email not in message:
        errors.append(f"customer_email {email!r} is not in the message")
    if isinstance(summary, str) and not (len(summary.split()) <= 20 and summary.isascii()):
        errors.append("summary must be at most 20 words of ASCII")
    return errors
