"""Reads for the review pages: filters, pages of examples (keyset on the example's position),
chat rendering, counts per reviewer, agreement, the audit trail."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import BooleanField, Count, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL

from fineweb.accounts.models import Membership
from review.agreement import agreement as pair_agreement
from review.models import Comment, Decision, Example, ExampleState, Fix, ReviewEvent, VersionReview

PER_PAGE = 25
# A filtered page counts its matches up to this many ("more than 500 match"): an exact count
# of a filter over 100,000 examples reads them all on every page; the bulk confirmation counts
# exactly, once.
COUNT_CAP = 500

STATUS_CHOICES = [
    ("", "Any status"),
    ("pending", "Waiting for review"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("disputed", "Reviewers disagree"),
    ("fixed", "Fixed"),
]
PROBLEM_CHOICES = [("", "Any"), ("error", "With an error"), ("clean", "Without errors")]
WARNING_CHOICES = [
    ("", "Any"),
    ("any", "With a warning"),
    ("privacy", "Personal data or a secret"),
    ("duplicate", "Duplicate"),
    ("none", "Without warnings"),
]


def _int(value: str | None, lo: int = 0, hi: int = 10**9) -> int | None:
    try:
        n = int(value or "")
    except ValueError:
        return None
    return max(lo, min(hi, n))


@dataclass
class Filters:
    """The queue's filters, read from the query string; anything unknown is ignored."""

    status: str = ""
    reviewer: int | None = None
    problem: str = ""
    warning: str = ""
    min_tokens: int | None = None
    max_tokens: int | None = None
    q: str = ""
    todo: bool = False  # only examples the person looking has not decided yet
    user_id: int | None = None

    @classmethod
    def from_query(cls, query: Any, *, user_id: int | None = None) -> Filters:
        def choice(name: str, choices: list[tuple[str, str]]) -> str:
            value = query.get(name, "")
            return value if value in {c for c, _ in choices} else ""

        return cls(
            status=choice("status", STATUS_CHOICES),
            reviewer=_int(query.get("reviewer")),
            problem=choice("problem", PROBLEM_CHOICES),
            warning=choice("warning", WARNING_CHOICES),
            min_tokens=_int(query.get("min_tokens")),
            max_tokens=_int(query.get("max_tokens")),
            q=(query.get("q") or "").strip()[:200],
            todo=query.get("todo") == "1" and user_id is not None,
            user_id=user_id,
        )

    def as_query(self) -> dict[str, str]:
        pairs = {
            "status": self.status,
            "reviewer": "" if self.reviewer is None else str(self.reviewer),
            "problem": self.problem,
            "warning": self.warning,
            "min_tokens": "" if self.min_tokens is None else str(self.min_tokens),
            "max_tokens": "" if self.max_tokens is None else str(self.max_tokens),
            "q": self.q,
            "todo": "1" if self.todo else "",
        }
        return {k: v for k, v in pairs.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.as_query())

    def apply(self, examples: QuerySet[Example], *, candidates: list[int] | None = None) -> QuerySet[Example]:
        if self.status == "fixed":
            examples = examples.filter(fixed=True)
        elif self.status:
            examples = examples.filter(state__status=self.status)
        if self.reviewer is not None:
            examples = examples.filter(
                Exists(Decision.objects.filter(example=OuterRef("pk"), reviewer_id=self.reviewer))
            )
        if self.todo and self.user_id is not None:
            examples = examples.exclude(
                Exists(Decision.objects.filter(example=OuterRef("pk"), reviewer_id=self.user_id))
            )
        # With a status filter the flags are read from the state row's copies: the status and the
        # flag are then in one table, and "waiting, with a warning" in one index.
        examples = examples.filter(**self.flags(prefix="state__" if self.key == "state__index" else ""))
        if self.min_tokens is not None:
            examples = examples.filter(n_tokens__gte=self.min_tokens)
        if self.max_tokens is not None:
            examples = examples.filter(n_tokens__lte=self.max_tokens)
        if self.q:
            examples = text_search(examples, self.q.lower(), candidates=candidates)
        return examples

    def flags(self, *, prefix: str = "") -> dict[str, list[bool]]:
        """The problem and warning filters as lookups on the flags (the example's or, with
        `prefix="state__"`, its state row's copies)."""
        lookups: dict[str, bool] = {}
        if self.problem:
            lookups["has_error"] = self.problem == "error"
        if self.warning in ("any", "none"):
            lookups["has_warning"] = self.warning == "any"
        elif self.warning == "privacy":
            lookups["has_privacy"] = True
        elif self.warning == "duplicate":
            lookups["is_duplicate"] = True
        # `__in=[v]`, not `=v`: Django writes a boolean `=True` as a bare `WHERE has_warning`, which
        # SQLite's planner cannot match to an index (it scanned the status's 90,000 rows for it);
        # `IN (1)` is an equality to both databases.
        return {f"{prefix}{k}__in": [v] for k, v in lookups.items()}

    @property
    def state_only(self) -> bool:
        """Only a status (not "fixed") and flags: the state rows alone answer it, without a join."""
        return (
            bool(self.status)
            and self.key == "state__index"
            and set(self.as_query())
            <= {
                "status",
                "problem",
                "warning",
            }
        )

    @property
    def key(self) -> str:
        """The position pages are keyed on: with a status filter the state's copy of it, so the
        (version, status, index) index yields the rows in order (joined to the examples by key);
        else the example's own, which the flags' (version, flag, index) indexes yield in order."""
        return "state__index" if self.status and self.status != "fixed" else "index"

    @property
    def status_only(self) -> bool:
        """Only a status filter: its count is one of the review's stored counts."""
        return set(self.as_query()) == {"status"} and self.status in Example.Status.values


def filtered(review: VersionReview, filters: Filters) -> QuerySet[Example]:
    candidates = fts_candidates(filters.q.lower()) if filters.q else None
    if candidates is not None:
        # The trigram index gives the rows: the version is checked on them (`+` keeps SQLite's
        # planner from walking the version's 100,000 rows to test each against the index's list).
        examples = Example.objects.filter(
            RawSQL('+"review_example"."version_id" = %s', [review.version_id], output_field=BooleanField())
        )
    else:
        examples = Example.objects.filter(version_id=review.version_id)
        if filters.key == "state__index":  # the (version, status, index) index needs the version too
            examples = examples.filter(state__version_id=review.version_id)
    return filters.apply(examples, candidates=candidates).select_related("state")


def match_count(review: VersionReview, filters: Filters, base: QuerySet[Example]) -> tuple[int, bool]:
    """(how many examples match, whether there are more than that): the stored counts without a
    filter or with a status filter only, else a count that stops at COUNT_CAP."""
    if not filters.active:
        return review.counts["total"], False
    if filters.status_only:
        return review.counts[filters.status], False
    if filters.state_only:  # one range of the (version, status, has_warning, index) index, no join
        n = _states(review, filters)[: COUNT_CAP + 1].count()
        return min(n, COUNT_CAP), n > COUNT_CAP
    n = _capped(base, filters, filters.key)[: COUNT_CAP + 1].count()
    return min(n, COUNT_CAP), n > COUNT_CAP


def _capped(qs: QuerySet[Example], filters: Filters, order: str) -> QuerySet[Example]:
    """How a capped count is ordered. Ordered by the key, the planner walks the filter's index and
    stops at the cap (unordered, PostgreSQL merge-joined both tables in full: 130 ms at 100,000
    examples). But a text search is counted unordered: PostgreSQL then counts from the trigram
    index (8 ms) instead of walking the version's rows in order testing each (52 ms for 1,000
    matches of 100,000), and SQLite's candidates are sorted for nothing."""
    return qs.order_by() if filters.q else qs.order_by(order)


def _states(review: VersionReview, filters: Filters) -> QuerySet[ExampleState]:
    return ExampleState.objects.filter(
        version_id=review.version_id, status=filters.status, **filters.flags()
    ).order_by()


def selection_count(review: VersionReview, filters: Filters) -> int:
    """The exact number of examples the filters select, as the bulk confirmation shows it: the
    stored counts where they answer it, else one count on the narrowest table that can."""
    if not filters.active:
        return review.counts["total"]
    if filters.status_only:
        return review.counts[filters.status]
    if filters.state_only:
        return _states(review, filters).count()
    return filtered(review, filters).order_by().count()


# --- text search ------------------------------------------------------------------------------------
_FTS: dict[str, bool] = {}
# On SQLite a text with at most this many candidate rows in the trigram index is looked up from
# it (the rows fetched by key, then sorted); a more common one is checked while walking the
# version's rows in order, where matches come at once.
FTS_DRIVE = 2000


def _has_fts() -> bool:
    """Whether SQLite has the trigram index of migration 0004 (it is skipped where FTS5 is missing)."""
    if connection.alias not in _FTS:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'review_example_fts'")
            _FTS[connection.alias] = cursor.fetchone() is not None
    return _FTS[connection.alias]


def _phrase(q: str) -> str:
    return '"' + q.replace('"', '""') + '"'


def fts_candidates(q: str) -> list[int] | None:
    """SQLite only: the ids of the rows whose search text may contain `q`, from the trigram index,
    when there are at most FTS_DRIVE of them (else None: a common text, or no index). Read once
    per page, so the page's queries look the rows up by key instead of each asking the index."""
    if connection.vendor != "sqlite" or len(q) < 3 or not _has_fts():
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rowid FROM review_example_fts WHERE review_example_fts MATCH %s LIMIT %s",
            [_phrase(q), FTS_DRIVE + 1],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return ids if len(ids) <= FTS_DRIVE else None


def text_search(
    examples: QuerySet[Example], q: str, *, candidates: list[int] | None = None
) -> QuerySet[Example]:
    """Examples whose search text contains `q` (a substring, as `LIKE '%q%'`). PostgreSQL answers
    the `LIKE` from its trigram index (migration 0002). On SQLite the FTS5 trigram index
    (migration 0004) gives the `candidates` (`fts_candidates`) and the `LIKE` checks them, so both
    databases keep the same substring rule; for a common text, or one under 3 characters (no
    trigram), it is the `LIKE` alone, on the version's rows in order."""
    examples = examples.filter(search_text__contains=q)
    if candidates is None:
        return examples
    return examples.filter(id__in=candidates)


@dataclass
class Page:
    examples: list[dict]
    next_after: int | None
    prev_before: int | None
    total: int
    more: bool = False  # more than `total` match (a capped count)


def list_page(
    review: VersionReview,
    filters: Filters,
    *,
    after: int | None,
    before: int | None,
    user_id: int,
) -> Page:
    """One page of the list view: keyset on `index` (after / before), so page 4,000 costs as
    little as page 1, on PostgreSQL and SQLite alike."""
    base = filtered(review, filters)
    key = filters.key
    if before is not None:
        rows = list(base.filter(**{f"{key}__lt": before}).order_by(f"-{key}")[: PER_PAGE + 1])
        has_more_before = len(rows) > PER_PAGE
        rows = list(reversed(rows[:PER_PAGE]))
        has_more_after = True
    else:
        qs = base.filter(**{f"{key}__gt": after}) if after is not None else base
        rows = list(qs.order_by(key)[: PER_PAGE + 1])
        has_more_after = len(rows) > PER_PAGE
        rows = rows[:PER_PAGE]
        has_more_before = after is not None
    cards = cards_for(rows, user_id=user_id, with_threads=False)
    total, more = match_count(review, filters, base)
    return Page(
        examples=cards,
        next_after=rows[-1].index if rows and has_more_after else None,
        prev_before=rows[0].index if rows and has_more_before else None,
        total=total,
        more=more,
    )


@dataclass
class Focus:
    card: dict | None
    prev_index: int | None
    next_index: int | None
    position: int | None  # None: more than COUNT_CAP matching examples come before it
    total: int
    more: bool = False  # more than `total` match (a capped count)


def focus(review: VersionReview, filters: Filters, *, at: int | None, user_id: int) -> Focus:
    """One example (at position `at`, or the first that matches) with its neighbours in the filter.
    Without filters the positions are the indexes themselves (0..n-1), so nothing is counted."""
    base = filtered(review, filters)
    key = filters.key
    example = None
    if at is not None:
        example = base.filter(**{f"{key}__gte": at}).order_by(key).first()
    if example is None:
        example = base.order_by(key).first()
    plain = not filters.active
    total, more = match_count(review, filters, base)
    if example is None:
        return Focus(None, None, None, 0, total, more)
    position: int | None
    if plain:
        prev_row = example.index - 1 if example.index > 0 else None
        next_row = example.index + 1 if example.index + 1 < total else None
        position = example.index + 1
    else:
        prev_row = (
            base.filter(**{f"{key}__lt": example.index})
            .order_by(f"-{key}")
            .values_list(key, flat=True)
            .first()
        )
        next_row = (
            base.filter(**{f"{key}__gt": example.index}).order_by(key).values_list(key, flat=True).first()
        )
        before = _capped(base.filter(**{f"{key}__lt": example.index}), filters, f"-{key}")[:COUNT_CAP].count()
        position = before + 1 if before < COUNT_CAP else None
    card = cards_for([example], user_id=user_id, with_threads=True)[0]
    return Focus(card, prev_row, next_row, position, total, more)


# --- rendering an example as a conversation ---------------------------------------------------------
def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(_part(p) for p in value)
    return orjson.dumps(value).decode()


def _part(part: object) -> str:
    if isinstance(part, dict):
        for key in ("text", "refusal"):
            if isinstance(part.get(key), str):
                return str(part[key])
        if part.get("type") == "image_url":
            return "[an image]"
    return _text(part)


def _calls(message: dict) -> list[dict]:
    calls = []
    raw_calls = message.get("tool_calls")
    if isinstance(raw_calls, list):
        for call in raw_calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                arguments = function.get("arguments")
                try:
                    parsed = orjson.loads(arguments) if isinstance(arguments, str) else arguments
                except orjson.JSONDecodeError:
                    parsed = None
                args = (
                    [{"name": str(k), "value": _text(v)} for k, v in parsed.items()]
                    if isinstance(parsed, dict)
                    else [{"name": "", "value": _text(arguments)}]
                )
                calls.append({"name": _text(function.get("name")), "args": args})
    function_call = message.get("function_call")
    if isinstance(function_call, dict):
        calls.append(
            {
                "name": _text(function_call.get("name")),
                "args": [{"name": "", "value": _text(function_call.get("arguments"))}],
            }
        )
    return calls


def bubble(message: object) -> dict:
    if not isinstance(message, dict):
        return {"role": "other", "label": "?", "text": _text(message), "calls": [], "weight0": False}
    role = message.get("role") if isinstance(message.get("role"), str) else "other"
    label = {
        "system": "System prompt",
        "user": "User",
        "assistant": "Assistant",
        "tool": "Tool result",
        "function": "Function result",
    }.get(str(role), str(role))
    name = message.get("name")
    if isinstance(name, str) and name:
        label += f" ({name})"
    return {
        "role": role if role in ("system", "user", "assistant", "tool", "function") else "other",
        "label": label,
        "text": _text(message.get("content"))[:20_000],
        "calls": _calls(message),
        "weight0": message.get("weight") == 0,
    }


def conversation(data: object) -> dict:
    """Bubbles of one example: {"messages": [...], "preferred": bubble|None, "rejected": bubble|None}."""
    if not isinstance(data, dict):
        return {"messages": [], "preferred": None, "non_preferred": None}
    if "input" in data:
        inp = data.get("input")
        messages = inp.get("messages") if isinstance(inp, dict) else None
        outputs = []
        for key in ("preferred_output", "non_preferred_output"):
            value = data.get(key)
            outputs.append(bubble(value[0]) if isinstance(value, list) and value else None)
        return {
            "messages": [bubble(m) for m in messages] if isinstance(messages, list) else [],
            "preferred": outputs[0],
            "non_preferred": outputs[1],
        }
    messages = data.get("messages")
    return {
        "messages": [bubble(m) for m in messages] if isinstance(messages, list) else [],
        "preferred": None,
        "non_preferred": None,
    }


def _system(data: object) -> str | None:
    conv = conversation(data)
    first = conv["messages"][0] if conv["messages"] else None
    return first["text"] if first and first["role"] == "system" else None


def _previous_system(example: Example) -> str | None:
    prev = (
        Example.objects.filter(version_id=example.version_id, index__lt=example.index)
        .order_by("-index")
        .values_list("data", flat=True)
        .first()
    )
    return _system(prev)


def cards_for(rows: list[Example], *, user_id: int, with_threads: bool) -> list[dict]:
    """What the templates show of each example: bubbles (a system prompt repeated from the
    example before collapsed), problems, decisions, and for the focus view its thread and history."""
    ids = [r.id for r in rows]
    decisions: dict[int, list[Decision]] = defaultdict(list)
    for d in Decision.objects.filter(example_id__in=ids).select_related("reviewer").order_by("created"):
        decisions[d.example_id].append(d)
    n_comments = dict(
        Comment.objects.filter(example_id__in=ids)
        .values("example_id")
        .annotate(n=Count("id"))
        .values_list("example_id", "n")
    )
    previous = _previous_system(rows[0]) if rows else None
    cards = []
    for row in rows:
        conv = conversation(row.data)
        system = _system(row.data)
        for b in conv["messages"]:
            b["repeat"] = False
        if conv["messages"] and system is not None and system == previous:
            conv["messages"][0]["repeat"] = True
        previous = system
        mine = next((d for d in decisions[row.id] if d.reviewer_id == user_id), None)
        card: dict[str, Any] = {
            "example": row,
            "conv": conv,
            "errors": [p for p in row.problems if p.get("kind") == "error"],
            "warnings": [p for p in row.problems if p.get("kind") == "warning"],
            "decisions": decisions[row.id],
            "mine": mine,
            "n_comments": n_comments.get(row.id, 0),
        }
        if with_threads:
            card["comments"] = list(row.comments.select_related("author"))
            card["fixes"] = [
                {"fix": f, "rows": change_rows(f.before, f.after)}
                for f in row.fixes.select_related("author").order_by("-lock")[:20]
            ]
            card["history"] = example_history(row, decisions[row.id])
        cards.append(card)
    return cards


# --- the version's summary --------------------------------------------------------------------------
@dataclass
class Summary:
    counts: dict[str, int]
    reviewed_share: float
    per_reviewer: list[dict]
    agreement: Any
    n_two_reviews: int
    events: list[ReviewEvent] = field(default_factory=list)


def summary(review: VersionReview) -> Summary:
    """Share reviewed, counts per reviewer and agreement where examples have two reviews."""
    counts = review.counts
    total = counts["total"] or 1
    reviewed = total - counts["pending"] if counts["total"] else 0
    rows = (
        Decision.objects.filter(example__version_id=review.version_id)
        .values("reviewer_id", "verdict")
        .annotate(n=Count("id"))
    )
    per: dict[int, Counter] = defaultdict(Counter)
    for row in rows:
        per[row["reviewer_id"]][row["verdict"]] += row["n"]
    names = dict(get_user_model().objects.filter(id__in=per).values_list("id", "username"))
    per_reviewer = [
        {
            "id": uid,
            "name": names.get(uid, "?"),
            "approved": c[Decision.Verdict.APPROVE],
            "rejected": c[Decision.Verdict.REJECT],
            "total": c.total(),
        }
        for uid, c in sorted(per.items(), key=lambda kv: names.get(kv[0], ""))
    ]
    agreement = pair_agreement(review_pairs(review))
    return Summary(
        counts=counts,
        reviewed_share=100 * reviewed / total,
        per_reviewer=per_reviewer,
        agreement=agreement,
        n_two_reviews=agreement.n,
        events=list(
            ReviewEvent.objects.filter(version_id=review.version_id).select_related("actor", "example")[:50]
        ),
    )


def review_pairs(review: VersionReview) -> list[tuple[str, str]]:
    """(first verdict, second verdict) for each example with at least two reviews (the first two)."""
    by_example: dict[int, list[str]] = defaultdict(list)
    for example_id, verdict in (
        Decision.objects.filter(example__version_id=review.version_id)
        .filter(
            Q(example__state__n_approve__gte=2)
            | Q(example__state__n_reject__gte=2)
            | Q(example__state__n_approve__gte=1, example__state__n_reject__gte=1)
        )
        .order_by("example_id", "created", "id")
        .values_list("example_id", "verdict")
    ):
        by_example[example_id].append(verdict)
    return [(v[0], v[1]) for v in by_example.values() if len(v) >= 2]


def latest_fix(example: Example) -> Fix | None:
    return example.fixes.select_related("author").order_by("-lock").first()


def review_counts(*, review: VersionReview) -> dict[str, int]:
    """Examples of the review per status, and "total", counted from the states (the freeze gate's
    exact count; pages read the stored `review.counts`)."""
    rows = (
        ExampleState.objects.filter(version_id=review.version_id)
        .values("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = dict.fromkeys(Example.Status.values, 0)
    for row in rows:
        counts[row["status"]] = row["n"]
    counts["total"] = sum(counts[s] for s in Example.Status.values)
    return counts


def counts(review: VersionReview) -> dict[str, int]:
    """The stored counts (kept by the services), what every page shows."""
    return review.counts


def summary_reviewers(review: VersionReview) -> list[tuple[int, str]]:
    """The team's members who may review, for the reviewer filter."""
    team_id = review.version.dataset.team_id
    return list(
        Membership.objects.filter(team_id=team_id, role__in=[Membership.Role.OWNER, Membership.Role.REVIEWER])
        .order_by("user__username")
        .values_list("user_id", "user__username")
    )


def _flat(data: object) -> list[dict]:
    conv = conversation(data)
    rows = list(conv["messages"])
    for key, label in (("preferred", "Preferred answer"), ("non_preferred", "Not preferred answer")):
        if conv[key] is not None:
            rows.append({**conv[key], "label": label})
    return rows


def change_rows(before: object, after: object) -> list[dict]:
    """Message by message, before and after a change, with the changed ones marked."""
    old, new = _flat(before), _flat(after)
    rows = []
    for i in range(max(len(old), len(new))):
        a = old[i] if i < len(old) else None
        b = new[i] if i < len(new) else None
        changed = a is None or b is None or (a["role"], a["text"]) != (b["role"], b["text"])
        rows.append({"before": a, "after": b, "changed": changed})
    return rows


def example_history(example: Example, decisions: list[Decision]) -> list[dict]:
    """Who did what on one example, newest first: its events, and the decisions a bulk action
    recorded (those have one event for the whole version, not one per example)."""
    events = list(ReviewEvent.objects.filter(example=example).select_related("actor")[:100])
    rows: list[dict[str, Any]] = [
        {
            "who": e.actor.username if e.actor else "someone",
            "what": e.get_action_display(),
            "detail": e.detail,
            "when": e.created,
        }
        for e in events
    ]
    decided = {(e.actor_id, e.action) for e in events}
    for d in decisions:
        action = (
            ReviewEvent.Action.APPROVED
            if d.verdict == Decision.Verdict.APPROVE
            else ReviewEvent.Action.REJECTED
        )
        if (d.reviewer_id, action) not in decided:
            rows.append(
                {
                    "who": d.reviewer.username,
                    "what": f"{action.label} (in a bulk decision)",
                    "detail": d.reason,
                    "when": d.updated,
                }
            )
    rows.sort(key=lambda r: r["when"], reverse=True)
    return rows
