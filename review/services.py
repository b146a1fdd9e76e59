"""Review services: prepare a version's examples, decide, comment, fix, settle, bulk-decide, freeze.

Keyword-only, named entity_verb. Every change writes a `ReviewEvent` (the audit trail).
Roles (docs/architecture.md, "Review"): owners and reviewers review, comment and fix; owners also
settle disagreements, freeze and change the team's review setting; launchers read.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.expressions import Case, When
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual
from django.utils import timezone

from datasets_app.lines import example_lines
from datasets_app.models import DatasetVersion
from datasets_app.services import DatasetError, version_derive
from fineweb.accounts.models import Membership, Team
from review.checks import Checked, ExampleChecker
from review.models import (
    BulkDecision,
    Comment,
    Decision,
    Example,
    ExampleState,
    Fix,
    ReviewEvent,
    ReviewSettings,
    VersionReview,
)
from review.selectors import Filters, filtered, review_counts, selection_count

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

BATCH = 2000  # example rows per bulk_create
ANALYZE_AFTER = 10_000  # a bulk decision this large refreshes the planner's statistics
Action = ReviewEvent.Action
BULK_RUNNING = (
    "A bulk decision is being recorded on this review right now; decisions and fixes can be made "
    "again when it is done (the progress bar at the top of the page)."
)


class ReviewError(Exception):
    """A refusal the page shows as it is: one sentence a person can act on."""


class FixConflict(ReviewError):
    """Someone else saved a fix of the same example first; `other` is their fix."""

    def __init__(self, message: str, *, other: Fix | None, example: Example):
        super().__init__(message)
        self.other = other
        self.example = example


def _membership(team_id: int, user: User) -> Membership | None:
    return Membership.objects.filter(team_id=team_id, user=user).first()


def _require(version: DatasetVersion, user: User, *, owner: bool = False) -> Membership:
    membership = _membership(version.dataset.team_id, user)
    if membership is None or not membership.can_review:
        raise ReviewError("Only an owner or a reviewer of the team can review examples.")
    if owner and not membership.is_owner:
        raise ReviewError("Only an owner of the team can do this.")
    return membership


# --- the team setting -----------------------------------------------------------------------------
def review_settings_for(*, team: Team) -> ReviewSettings:
    return ReviewSettings.objects.get_or_create(team=team)[0]


def review_settings_update(*, team: Team, user: User, reviews_per_example: int) -> ReviewSettings:
    """Set how many reviews an example needs; open reviews of the team follow the new number."""
    membership = _membership(team.id, user)
    if membership is None or not membership.is_owner:
        raise ReviewError("Only an owner of the team can change the review setting.")
    if reviews_per_example not in (1, 2):
        raise ReviewError("Choose one or two reviews per example.")
    if VersionReview.objects.filter(version__dataset__team=team, state=VersionReview.State.DECIDING).exists():
        # The worker's statuses follow the number it started with; change it once it is done.
        raise ReviewError(
            "A bulk decision is being recorded on one of the team's reviews; change the setting when it is done."
        )
    with transaction.atomic():
        setting = review_settings_for(team=team)
        setting.reviews_per_example = reviews_per_example
        setting.save(update_fields=["reviews_per_example"])
        reviews = VersionReview.objects.filter(
            version__dataset__team=team, state=VersionReview.State.READY
        ).select_related("version")
        for review in reviews:
            review.reviews_needed = reviews_per_example
            review.save(update_fields=["reviews_needed"])
            _refresh_status(ExampleState.objects.filter(version_id=review.version_id), reviews_per_example)
            _recount(review)
            ReviewEvent.objects.create(
                version_id=review.version_id,
                actor=user,
                action=Action.SETTING,
                detail=f"{reviews_per_example} review{'s' if reviews_per_example > 1 else ''} per example",
            )
    return setting


# --- preparing the rows ---------------------------------------------------------------------------
def review_start(*, version: DatasetVersion, user: User) -> VersionReview:
    """Start the review of a version: its example rows are built here for a small file, by the
    worker task `review.build_examples` for a large one (the page shows a progress bar)."""
    _require(version, user)
    if version.status != DatasetVersion.Status.VALID:
        raise ReviewError("Only a version without errors can be reviewed; fix the file and upload it again.")
    with transaction.atomic():
        review, created = VersionReview.objects.get_or_create(
            version=version,
            defaults={
                "started_by": user,
                "reviews_needed": review_settings_for(team=version.dataset.team).reviews_per_example,
            },
        )
        if not created:
            return review
        ReviewEvent.objects.create(version=version, actor=user, action=Action.STARTED)
        inline = version.blob.size <= settings.DATASET_INLINE_VALIDATE_BYTES
        if not inline:
            from review.tasks import review_build_task

            transaction.on_commit(lambda: review_build_task.delay(review.id))
    if inline:
        review_examples_build(review=review)
        review.refresh_from_db()
    return review


def _rows(version: DatasetVersion) -> Iterator[tuple[int, bytes | None]]:
    with version.blob.open() as f:
        yield from example_lines(f)


def review_examples_build(*, review: VersionReview) -> VersionReview:
    """Write one `Example` row per example of the version, in batches. Idempotent: a review that is
    no longer "building" is left alone, and rows already written are started over."""
    claimed = VersionReview.objects.filter(id=review.id, state=VersionReview.State.BUILDING)
    if not claimed.exists():
        return review
    version = DatasetVersion.objects.select_related("dataset", "blob").get(id=review.version_id)
    Example.objects.filter(version=version).delete()
    checker = ExampleChecker(method=version.dataset.method, model=version.dataset.target_model)
    total = max(version.n_examples, 1)
    seen: dict[bytes, int] = {}
    batch: list[Example] = []
    index = -1
    for line, raw in _rows(version):
        index += 1
        batch.append(_example_row(version, index, line, raw, checker, seen))
        if len(batch) >= BATCH:
            Example.objects.bulk_create(batch)
            batch = []
            claimed.update(progress=min(99, (index + 1) * 100 // total))
    Example.objects.bulk_create(batch)
    e, st = Example._meta.db_table, ExampleState._meta.db_table
    with connection.cursor() as cursor:
        # Every example starts waiting for review: its state row, written in one statement.
        cursor.execute(
            f'INSERT INTO {st} (example_id, version_id, "index", status, n_approve, n_reject, '
            "settled_verdict, has_error, has_warning, has_privacy, is_duplicate) "
            f"SELECT id, version_id, \"index\", %s, 0, 0, '', has_error, has_warning, has_privacy, "
            f"is_duplicate FROM {e} WHERE version_id = %s",
            [Example.Status.PENDING, version.id],
        )
    _analyze(Example, ExampleState)
    claimed.update(
        state=VersionReview.State.READY,
        progress=100,
        n_examples=index + 1,
        n_pending=index + 1,
        n_approved=0,
        n_rejected=0,
        n_disputed=0,
    )
    review.refresh_from_db()
    return review


def _analyze(*models: type[Example] | type[ExampleState]) -> None:
    """Let PostgreSQL's planner see the rows a build or a bulk decision just wrote: with the
    statistics of an empty table it chose a full scan and a sort for a filtered page of 100,000
    rows (130 ms) where the (version, status, index) index answers in 0.1 ms. Autovacuum would
    get there a minute later. SQLite's planner takes the indexes without statistics."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE " + ", ".join(m._meta.db_table for m in models))


def review_build_fail(*, review_id: int) -> None:
    VersionReview.objects.filter(id=review_id, state=VersionReview.State.BUILDING).update(
        state=VersionReview.State.FAILED
    )


def _example_row(
    version: DatasetVersion,
    index: int,
    line: int,
    raw: bytes | None,
    checker: ExampleChecker,
    seen: dict[bytes, int],
) -> Example:
    if raw is None:
        return _unreadable(version, index, line, "", "this line is too long to be one example")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _unreadable(
            version, index, line, raw[:4000].decode("utf-8", "replace"), "this line is not readable"
        )
    checked = checker.check(data, raw)
    digest = hashlib.sha256(raw).digest()
    first = seen.setdefault(digest, index)
    duplicate = first != index
    if duplicate:
        checked.problems.append(
            {"kind": "warning", "code": "duplicate", "message": f"the same as example {first + 1}"}
        )
    return _with_checks(Example(version=version, index=index, line=line, data=data), checked, duplicate)


def _unreadable(version: DatasetVersion, index: int, line: int, raw: str, message: str) -> Example:
    return Example(
        version=version,
        index=index,
        line=line,
        data=None,
        raw=raw,
        search_text=raw.lower(),
        problems=[{"kind": "error", "code": "unreadable", "message": message}],
        has_error=True,
    )


def _with_checks(example: Example, checked: Checked, duplicate: bool) -> Example:
    example.problems = checked.problems
    example.n_tokens = checked.n_tokens
    example.search_text = checked.search_text
    example.has_error = bool(checked.errors)
    example.has_warning = bool(checked.warnings)
    example.has_privacy = checked.has_privacy
    example.is_duplicate = duplicate
    return example


# --- statuses -------------------------------------------------------------------------------------
def _refresh_status(states: QuerySet[ExampleState], needed: int) -> None:
    """Recount the decisions of the examples of `states` and set their status, in one UPDATE."""

    def count(verdict: str) -> Coalesce:
        return Coalesce(
            Subquery(
                Decision.objects.filter(example=OuterRef("pk"), verdict=verdict)
                .order_by()
                .values("example")
                .annotate(n=Count("id"))
                .values("n")[:1]
            ),
            Value(0),
        )

    S = Example.Status
    approvals, rejections = count(Decision.Verdict.APPROVE), count(Decision.Verdict.REJECT)
    states.update(
        n_approve=approvals,
        n_reject=rejections,
        status=Case(
            When(settled_verdict=Decision.Verdict.APPROVE, then=Value(S.APPROVED)),
            When(settled_verdict=Decision.Verdict.REJECT, then=Value(S.REJECTED)),
            When(
                GreaterThan(approvals, 0),
                then=Case(
                    When(GreaterThan(rejections, 0), then=Value(S.DISPUTED)),
                    When(GreaterThanOrEqual(approvals, needed), then=Value(S.APPROVED)),
                    default=Value(S.PENDING),
                ),
            ),
            When(GreaterThanOrEqual(rejections, needed), then=Value(S.REJECTED)),
            default=Value(S.PENDING),
        ),
    )


def _refresh_written(*, reviewer_id: int, written: Any, needed: int) -> None:
    """`_refresh_status` for the examples a bulk decision just wrote (found by reviewer and time),
    as one UPDATE ... FROM over the decisions counted once with GROUP BY: the ORM's correlated
    subqueries ran one count per row and column, seconds at 100,000 examples. PostgreSQL and
    SQLite (3.33+) both take this statement."""
    e, d = ExampleState._meta.db_table, Decision._meta.db_table
    S, V = Example.Status, Decision.Verdict
    sql = f"""
        UPDATE {e} SET n_approve = c.a, n_reject = c.r,
          status = CASE WHEN {e}.settled_verdict = %s THEN %s WHEN {e}.settled_verdict = %s THEN %s
                        WHEN c.a > 0 AND c.r > 0 THEN %s WHEN c.a >= %s THEN %s WHEN c.r >= %s THEN %s
                        ELSE %s END
        FROM (SELECT example_id,
                     SUM(CASE WHEN verdict = %s THEN 1 ELSE 0 END) AS a,
                     SUM(CASE WHEN verdict = %s THEN 1 ELSE 0 END) AS r
              FROM {d}
              WHERE example_id IN (SELECT example_id FROM {d} WHERE reviewer_id = %s AND updated = %s)
              GROUP BY example_id) AS c
        WHERE {e}.example_id = c.example_id"""
    params: list[Any] = [
        *(V.APPROVE, S.APPROVED, V.REJECT, S.REJECTED),
        *(S.DISPUTED, needed, S.APPROVED, needed, S.REJECTED, S.PENDING),
        *(V.APPROVE, V.REJECT, reviewer_id, written),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _refresh_one(review: VersionReview, example: Example) -> None:
    """`_refresh_status` for one example, moving the review's stored counts by its change of
    status (its state row is locked first, so two reviewers deciding it at once count once each)."""
    states = ExampleState.objects.filter(pk=example.pk)
    old = states.select_for_update().values_list("status", flat=True).get()
    _refresh_status(states, review.reviews_needed)
    new = states.values_list("status", flat=True).get()
    if old != new:
        VersionReview.objects.filter(pk=review.pk).update(
            **{f"n_{old}": F(f"n_{old}") - 1, f"n_{new}": F(f"n_{new}") + 1}
        )


def _recount(review: VersionReview) -> None:
    """Set the review's stored counts from its examples' states: once per bulk action, never per page."""
    counts = dict.fromkeys(Example.Status.values, 0)
    rows = (
        ExampleState.objects.filter(version_id=review.version_id)
        .values("status")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("status", "n")
    )
    counts.update(dict(rows))
    VersionReview.objects.filter(pk=review.pk).update(**{f"n_{k}": v for k, v in counts.items()})


def _open_review(example: Example) -> VersionReview:
    review = VersionReview.objects.select_related("version__dataset").get(version_id=example.version_id)
    if review.state == VersionReview.State.FROZEN:
        raise ReviewError(
            "This review is finished: its approved examples were frozen into a new version. "
            "Open that version to change anything."
        )
    if review.state == VersionReview.State.FREEZING:
        raise ReviewError("This review is being frozen right now; wait until it is done.")
    if review.state == VersionReview.State.DECIDING:
        raise ReviewError(BULK_RUNNING)
    return review


def _lock_open(review: VersionReview) -> None:
    """Inside an action's transaction: the review's row locked, and the review still open. A bulk
    decision's claim (or a freeze's) updates that row, so it waits for the action to commit, and
    an action after the claim sees it: no decision slips into a set a worker is recording."""
    state = (
        VersionReview.objects.select_for_update().filter(pk=review.pk).values_list("state", flat=True).first()
    )
    if state == VersionReview.State.DECIDING:
        raise ReviewError(BULK_RUNNING)
    if state != VersionReview.State.READY:
        raise ReviewError(
            "This review is not open for changes right now (it is being frozen or is finished)."
        )


# --- acting on one example ------------------------------------------------------------------------
def example_decide(*, example: Example, user: User, verdict: str, reason: str = "") -> Decision:
    """Approve or reject an example (a reviewer's own decision; deciding again replaces it)."""
    review = _open_review(example)
    _require(review.version, user)
    reason = reason.strip()
    if verdict not in Decision.Verdict.values:
        raise ReviewError("Choose approve or reject.")
    if verdict == Decision.Verdict.REJECT and not reason:
        raise ReviewError("Say why you reject this example, so the team can fix or drop it.")
    now = timezone.now()
    with transaction.atomic():
        _lock_open(review)
        decision, _ = Decision.objects.update_or_create(
            example=example,
            reviewer=user,
            defaults={"verdict": verdict, "reason": reason[:2000], "updated": now},
            create_defaults={"verdict": verdict, "reason": reason[:2000], "created": now, "updated": now},
        )
        _refresh_one(review, example)
        ReviewEvent.objects.create(
            version_id=example.version_id,
            example=example,
            actor=user,
            action=Action.APPROVED if verdict == Decision.Verdict.APPROVE else Action.REJECTED,
            detail=reason[:2000],
        )
    example.refresh_from_db()
    return decision


def example_comment(*, example: Example, user: User, text: str) -> Comment:
    version = DatasetVersion.objects.select_related("dataset").get(id=example.version_id)
    _require(version, user)
    text = text.strip()
    if not text:
        raise ReviewError("Write something before sending the comment.")
    if len(text) > 10_000:
        raise ReviewError("A comment may have at most 10,000 characters.")
    with transaction.atomic():
        comment = Comment.objects.create(example=example, author=user, text=text)
        ReviewEvent.objects.create(
            version_id=example.version_id,
            example=example,
            actor=user,
            action=Action.COMMENTED,
            detail=text[:200],
        )
    return comment


def example_settle(*, example: Example, user: User, verdict: str, reason: str = "") -> Example:
    """An owner's final word on an example the reviewers disagree on."""
    review = _open_review(example)
    _require(review.version, user, owner=True)
    if verdict not in Decision.Verdict.values:
        raise ReviewError("Choose approve or reject.")
    with transaction.atomic():
        _lock_open(review)
        ExampleState.objects.filter(pk=example.pk).update(settled_verdict=verdict, settled_by=user)
        _refresh_one(review, example)
        ReviewEvent.objects.create(
            version_id=example.version_id,
            example=example,
            actor=user,
            action=Action.SETTLED,
            detail=("approved" if verdict == Decision.Verdict.APPROVE else "rejected")
            + (f": {reason.strip()[:2000]}" if reason.strip() else ""),
        )
    example.refresh_from_db()
    return example


def example_fix(*, example: Example, user: User, data: dict, lock: int) -> Example | DatasetVersion:
    """Save a fixed example, recorded as a change with its before and after.

    Optimistic lock: the fix is saved only if nobody saved another since the form was opened
    (`lock`); otherwise FixConflict names the other person's fix. On a frozen version the fix
    starts a new draft version (returned instead of the example), reviewed on its own.
    """
    review = _open_review(example)
    version = review.version
    _require(version, user)
    if version.is_frozen:
        return _draft_with_fix(review=review, example=example, user=user, data=data)
    dataset = version.dataset
    checked = ExampleChecker(method=dataset.method, model=dataset.target_model).check(data)
    with transaction.atomic():
        _lock_open(review)
        current = Example.objects.select_for_update().get(pk=example.pk)
        if current.lock != lock:
            other = current.fixes.select_related("author").order_by("-lock").first()
            who = other.author.username if other and other.author else "someone"
            raise FixConflict(
                f"{who} saved a change to this example while you were editing it. Their version is shown "
                "below; your change was not saved. Edit their version if it still needs fixing.",
                other=other,
                example=current,
            )
        duplicate = current.is_duplicate and current.data == data
        if duplicate:
            checked.problems += [p for p in current.problems if p["code"] == "duplicate"]
        row = _with_checks(Example(pk=current.pk), checked, duplicate)
        updated = Example.objects.filter(pk=current.pk, lock=lock).update(
            data=data,
            raw="",
            fixed=True,
            lock=lock + 1,
            problems=row.problems,
            n_tokens=row.n_tokens,
            search_text=row.search_text,
            has_error=row.has_error,
            has_warning=row.has_warning,
            has_privacy=row.has_privacy,
            is_duplicate=row.is_duplicate,
            updated=timezone.now(),
        )
        if not updated:  # pragma: no cover - the row is locked above on PostgreSQL
            raise FixConflict(
                "Someone saved a change meanwhile; reload the example.", other=None, example=current
            )
        ExampleState.objects.filter(pk=current.pk).update(
            has_error=row.has_error,
            has_warning=row.has_warning,
            has_privacy=row.has_privacy,
            is_duplicate=row.is_duplicate,
        )
        Fix.objects.create(example=current, author=user, before=current.data, after=data, lock=lock + 1)
        ReviewEvent.objects.create(
            version_id=current.version_id, example=current, actor=user, action=Action.FIXED
        )
    example.refresh_from_db()
    return example


def _derive(
    *, parent: DatasetVersion, examples: Iterator[dict], user: User, note: str, freeze: bool
) -> DatasetVersion:
    try:
        return version_derive(parent=parent, examples=examples, user=user, note=note, freeze=freeze)
    except DatasetError as exc:
        raise ReviewError(str(exc)) from exc


def _draft_with_fix(*, review: VersionReview, example: Example, user: User, data: dict) -> DatasetVersion:
    """A change to a frozen version: a new draft version with the fix, whose review starts at once."""
    version = review.version

    def examples() -> Iterator[dict]:
        rows = Example.objects.filter(version=version).order_by("index").values_list("index", "data")
        for index, row_data in rows.iterator(chunk_size=BATCH):
            if index == example.index:
                yield data
            elif row_data is not None:
                yield row_data

    draft = _derive(
        parent=version,
        examples=examples(),
        user=user,
        note=f"Example {example.number} fixed after version {version.number} was frozen",
        freeze=False,
    )
    ReviewEvent.objects.create(
        version=version,
        example=example,
        actor=user,
        action=Action.DRAFTED,
        detail=f"version {draft.number}, with a fix of example {example.number}",
    )
    if draft.status == DatasetVersion.Status.VALID:
        review_start(version=draft, user=user)
    return draft


# --- many examples at once ------------------------------------------------------------------------
def _bulk_check(review: VersionReview, user: User, verdict: str, reason: str) -> str:
    if review.state == VersionReview.State.FROZEN:
        raise ReviewError("This review is finished: its approved examples were frozen into a new version.")
    if review.state == VersionReview.State.DECIDING:
        raise ReviewError(BULK_RUNNING)
    if review.state != VersionReview.State.READY:
        raise ReviewError("This review is not open for decisions right now (it is being prepared or frozen).")
    _require(review.version, user)
    if verdict not in Decision.Verdict.values:
        raise ReviewError("Choose approve or reject.")
    reason = reason.strip()
    if verdict == Decision.Verdict.REJECT and not reason:
        raise ReviewError("Say why you reject these examples.")
    return reason


def _changed(count: int, expected: int) -> ReviewError:
    return ReviewError(
        f"The selection changed: it now has {count:,} examples, not {expected:,}. Check it again and confirm."
    )


def _bulk_write(*, examples: QuerySet[Example], user_id: int, verdict: str, reason: str, needed: int) -> None:
    """Record one reviewer's verdict on `examples` in one INSERT ... SELECT, then refresh the
    statuses of the examples it wrote (found by reviewer and time stamp)."""
    stamp = connection.ops.adapt_datetimefield_value(timezone.now())
    select_sql, params = examples.order_by().values_list("id").query.sql_with_params()
    table = Decision._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (example_id, reviewer_id, verdict, reason, created, updated) "
            f"SELECT chosen.id, %s, %s, %s, %s, %s FROM ({select_sql}) chosen WHERE 1 = 1 "
            "ON CONFLICT (example_id, reviewer_id) DO UPDATE SET verdict = excluded.verdict, "
            "reason = excluded.reason, updated = excluded.updated",
            [user_id, verdict, reason[:2000], stamp, stamp, *params],
        )
    _refresh_written(reviewer_id=user_id, written=stamp, needed=needed)


def _bulk_event(review: VersionReview, user_id: int, verdict: str, reason: str, what: str) -> None:
    ReviewEvent.objects.create(
        version_id=review.version_id,
        actor_id=user_id,
        action=Action.BULK,
        detail=f"{'approved' if verdict == Decision.Verdict.APPROVE else 'rejected'} {what}"
        + (f": {reason[:500]}" if reason else ""),
    )


def examples_bulk_decide(
    *,
    review: VersionReview,
    user: User,
    examples: QuerySet[Example],
    verdict: str,
    reason: str = "",
    expected: int,
) -> int:
    """Record `user`'s verdict on every example of `examples` (a filtered set of this version),
    in one INSERT ... SELECT, in the request; refused when the set no longer has the `expected`
    size that the confirmation showed. Returns how many examples got the decision. (The page
    calls `review_bulk_start`, which hands a set over `REVIEW_BULK_INLINE_EXAMPLES` to a worker.)"""
    reason = _bulk_check(review, user, verdict, reason)
    with transaction.atomic():
        _lock_open(review)
        examples = examples.filter(version_id=review.version_id)
        count = examples.count()
        if count != expected:
            raise _changed(count, expected)
        _bulk_write(
            examples=examples, user_id=user.id, verdict=verdict, reason=reason, needed=review.reviews_needed
        )
        _recount(review)
        if count > ANALYZE_AFTER:
            _analyze(ExampleState)  # only the states changed (the examples' table took 1.6 s more)
        _bulk_event(review, user.id, verdict, reason, f"{count:,} examples")
    return count


def review_bulk_start(
    *, review: VersionReview, user: User, filters: Filters, verdict: str, reason: str = "", expected: int
) -> tuple[int, BulkDecision | None]:
    """The page's bulk approve or reject of the examples `filters` select, confirmed at `expected`.

    Up to `REVIEW_BULK_INLINE_EXAMPLES` it is `examples_bulk_decide`, in the request: (n, None).
    A larger set is checked against `expected` here (the counts the confirmation showed), the
    review is claimed ("deciding": single decisions, fixes, freezing and other bulk actions are
    refused) and the worker task `review.bulk_decide` records it in chunks: (expected, the job).
    Two posts at once: the claim is one conditional UPDATE, so the second is refused."""
    reason = _bulk_check(review, user, verdict, reason)
    if expected <= settings.REVIEW_BULK_INLINE_EXAMPLES:
        n = examples_bulk_decide(
            review=review,
            user=user,
            examples=filtered(review, filters),
            verdict=verdict,
            reason=reason,
            expected=expected,
        )
        return n, None
    with transaction.atomic():
        claimed = VersionReview.objects.filter(id=review.id, state=VersionReview.State.READY).update(
            state=VersionReview.State.DECIDING
        )
        if not claimed:
            raise ReviewError(BULK_RUNNING)
        review.refresh_from_db()
        count = selection_count(review, filters)
        if count != expected:
            raise _changed(count, expected)  # the claim is rolled back with it
        job = BulkDecision.objects.create(
            review=review,
            user=user,
            verdict=verdict,
            reason=reason[:2000],
            filters=filters.as_query(),
            expected=expected,
            heartbeat=timezone.now(),
        )
        from review.tasks import review_bulk_task

        transaction.on_commit(lambda: review_bulk_task.delay(job.id))
    return expected, job


def review_bulk_run(*, job_id: int, max_chunks: int | None = None) -> BulkDecision | None:
    """The worker's part of a large bulk decision: the exact count checked once more, then the
    set in chunks of `REVIEW_BULK_CHUNK_EXAMPLES` positions, each its own transaction that moves
    `done` and `cursor` (the page's progress bar). The chunks are ranges of positions of the same
    filter, and writing one never changes which examples of the next ones match, so together they
    are exactly the confirmed set; a task delivered again after a lost worker carries on from
    `cursor`. At the end the review is open again. `max_chunks`: stop after writing that many, the
    job left running (what a worker lost mid-way leaves)."""
    job = BulkDecision.objects.select_related("review").filter(id=job_id).first()
    if job is None or job.state in (BulkDecision.State.DONE, BulkDecision.State.FAILED):
        return job
    review = job.review
    if review.state != VersionReview.State.DECIDING:
        return _bulk_stop(job, "The bulk decision did not run: the review was no longer waiting for it.")
    filters = Filters.from_query(job.filters, user_id=job.user_id)
    base = filtered(review, filters)
    key = filters.key
    jobs = BulkDecision.objects.filter(
        id=job.id, state__in=[BulkDecision.State.QUEUED, BulkDecision.State.RUNNING]
    )
    if job.state == BulkDecision.State.QUEUED:
        count = base.order_by().count()
        if count != job.expected:
            return _bulk_stop(job, str(_changed(count, job.expected)) + " Nothing was recorded.")
        jobs.update(state=BulkDecision.State.RUNNING, cursor=-1, heartbeat=timezone.now())
        job.cursor = -1
    cursor = job.cursor  # None: running, and its last chunk is written (delivered again since)
    size = max(1, settings.REVIEW_BULK_CHUNK_EXAMPLES)
    while cursor is not None:
        rest = base.filter(**{f"{key}__gt": cursor})
        upper = rest.order_by(key).values_list(key, flat=True)[size - 1 : size].first()
        chunk = rest if upper is None else rest.filter(**{f"{key}__lte": upper})
        with transaction.atomic():
            # The job's row is locked for the chunk, so a lease running out (`review_bulk_recover`)
            # waits for it to commit, and a job stopped meanwhile stops here.
            if jobs.select_for_update().values_list("id", flat=True).first() is None:
                job.refresh_from_db()
                return job
            n = chunk.order_by().count()
            _bulk_write(
                examples=chunk,
                user_id=job.user_id,
                verdict=job.verdict,
                reason=job.reason,
                needed=review.reviews_needed,
            )
            _recount(review)
            jobs.update(done=F("done") + n, cursor=upper, heartbeat=timezone.now())
        cursor = upper
        if max_chunks is not None:
            max_chunks -= 1
            if max_chunks <= 0 and cursor is not None:
                job.refresh_from_db()
                return job
    with transaction.atomic():
        updated = jobs.update(state=BulkDecision.State.DONE, heartbeat=timezone.now())
        VersionReview.objects.filter(id=review.id, state=VersionReview.State.DECIDING).update(
            state=VersionReview.State.READY
        )
        if updated:
            job.refresh_from_db()
            _bulk_event(review, job.user_id, job.verdict, job.reason, f"{job.done:,} examples")
    if job.done > ANALYZE_AFTER:
        _analyze(ExampleState)
    job.refresh_from_db()
    return job


def _bulk_stop(job: BulkDecision, message: str) -> BulkDecision:
    """End a bulk decision that cannot go on: the job says why, the review is open again with its
    counts recounted, and the decisions already recorded stay (the audit trail says how many)."""
    with transaction.atomic():
        stopped = BulkDecision.objects.filter(
            id=job.id, state__in=[BulkDecision.State.QUEUED, BulkDecision.State.RUNNING]
        ).update(state=BulkDecision.State.FAILED, message=message)
        review = VersionReview.objects.get(id=job.review_id)
        if stopped and review.state == VersionReview.State.DECIDING:
            VersionReview.objects.filter(id=review.id).update(state=VersionReview.State.READY)
            _recount(review)
            job.refresh_from_db()
            if job.done:
                _bulk_event(
                    review,
                    job.user_id,
                    job.verdict,
                    job.reason,
                    f"{job.done:,} of {job.expected:,} examples (stopped)",
                )
    job.refresh_from_db()
    return job


def review_bulk_fail(*, job_id: int) -> None:
    """The worker's bulk decision broke: the review is open again, the page says what happened."""
    job = BulkDecision.objects.filter(id=job_id).first()
    if job is not None:
        _bulk_stop(job, _stopped_sentence(job, "because of an error on the server"))


def _stopped_sentence(job: BulkDecision, why: str) -> str:
    word = "approval" if job.verdict == Decision.Verdict.APPROVE else "rejection"
    if not job.done:
        return f"The bulk {word} of {job.expected:,} examples stopped {why} before recording any; nothing changed. Confirm it again."
    return (
        f"The bulk {word} stopped {why} after {job.done:,} of {job.expected:,} examples. "
        f"The {job.done:,} decisions recorded are kept; select the rest and confirm again."
    )


def review_bulk_recover(*, review: VersionReview) -> BulkDecision | None:
    """A review "deciding" whose bulk job has not moved for `REVIEW_BULK_LEASE_SECONDS` (its worker
    is gone, or none runs) is opened again, its job stopped with a sentence; the pages call this.
    Returns the review's latest job."""
    job = BulkDecision.objects.filter(review=review).select_related("user").first()
    if review.state != VersionReview.State.DECIDING:
        return job
    stale = timezone.now() - timedelta(seconds=settings.REVIEW_BULK_LEASE_SECONDS)
    if (
        job is not None
        and job.heartbeat < stale
        and job.state in (BulkDecision.State.QUEUED, BulkDecision.State.RUNNING)
    ):
        job = _bulk_stop(job, _stopped_sentence(job, "because no worker was recording it"))
        review.refresh_from_db()
    elif job is None:  # pragma: no cover - a claim always writes its job in the same transaction
        VersionReview.objects.filter(id=review.id, state=VersionReview.State.DECIDING).update(
            state=VersionReview.State.READY
        )
        review.refresh_from_db()
    return job


# --- the gate -------------------------------------------------------------------------------------
def _gate(*, review: VersionReview, version: DatasetVersion, approved_only: bool) -> dict[str, int]:
    """The freeze rule, on the exact counts: every example has its reviews, or "approved only"."""
    if version.is_frozen:
        raise ReviewError(
            "This version is already frozen and jobs can train on it; a fix here starts a new draft to review."
        )
    counts = review_counts(review=review)
    open_ = counts["pending"] + counts["disputed"]
    if counts["approved"] == 0:
        raise ReviewError("No example is approved yet: approve examples before freezing.")
    if open_ and not approved_only:
        raise ReviewError(
            f"{open_:,} example{'s' if open_ != 1 else ''} still wait for reviews or for a settled "
            "disagreement. Finish them, or freeze the approved examples only."
        )
    return counts


def review_freeze_start(
    *, review: VersionReview, user: User, approved_only: bool = False
) -> DatasetVersion | None:
    """The owner's "Freeze": `review_freeze` at once for a small review; one of more than
    `REVIEW_FREEZE_INLINE_EXAMPLES` approved examples is frozen by the worker task
    `review.freeze_version` (writing 100,000 examples took 3.5 s in the request): the review is
    then "being frozen", refuses decisions, its page shows a progress bar, and None is returned.
    """
    version = DatasetVersion.objects.select_related("dataset").get(id=review.version_id)
    _require(version, user, owner=True)
    if review.state == VersionReview.State.DECIDING:
        raise ReviewError(BULK_RUNNING)
    if review.state != VersionReview.State.READY:
        raise ReviewError("This review cannot be frozen now: it is not open.")
    counts = _gate(review=review, version=version, approved_only=approved_only)
    if counts["approved"] <= settings.REVIEW_FREEZE_INLINE_EXAMPLES:
        return review_freeze(review=review, user=user, approved_only=approved_only)
    claimed = VersionReview.objects.filter(id=review.id, state=VersionReview.State.READY).update(
        state=VersionReview.State.FREEZING, progress=0
    )
    if claimed:
        from review.tasks import review_freeze_task

        transaction.on_commit(lambda: review_freeze_task.delay(review.id, user.id, approved_only))
    review.refresh_from_db()
    return None


def review_freeze(*, review: VersionReview, user: User, approved_only: bool = False) -> DatasetVersion:
    """Freeze what the team approved into a new, immutable version that jobs can train on.

    Every example must have its reviews (no example waiting, no disagreement left), unless the
    owner freezes "approved only", leaving out the rest. Runs in the request for a small review,
    else in the worker (`review_freeze_start`); the rule is checked here again on the exact counts,
    and a review being frozen goes back to "in review" if it no longer holds.
    """
    version = DatasetVersion.objects.select_related("dataset").get(id=review.version_id)
    _require(version, user, owner=True)
    if review.state not in (VersionReview.State.READY, VersionReview.State.FREEZING):
        raise ReviewError("This review cannot be frozen now: it is not open.")
    claimed = VersionReview.objects.filter(
        id=review.id, state__in=[VersionReview.State.READY, VersionReview.State.FREEZING]
    )
    try:
        counts = _gate(review=review, version=version, approved_only=approved_only)
    except ReviewError:
        claimed.filter(state=VersionReview.State.FREEZING).update(state=VersionReview.State.READY, progress=0)
        raise
    left_out = counts["total"] - counts["approved"]
    step = max(counts["approved"] // 50, BATCH)

    def approved() -> Iterator[dict]:
        rows = (
            Example.objects.filter(version=version, state__status=Example.Status.APPROVED)
            .order_by("index")
            .values_list("data", flat=True)
        )
        for n, data in enumerate(rows.iterator(chunk_size=BATCH), start=1):
            if n % step == 0:
                claimed.filter(state=VersionReview.State.FREEZING).update(
                    progress=min(99, n * 100 // counts["approved"])
                )
            if data is not None:  # an approved example is readable; an unreadable one cannot be trained on
                yield data

    try:
        frozen = _derive(
            parent=version,
            examples=approved(),
            user=user,
            note=f"Reviewed: {counts['approved']:,} approved examples"
            + (f", {left_out:,} left out" if left_out else ""),
            freeze=True,
        )
    except ReviewError:
        claimed.filter(state=VersionReview.State.FREEZING).update(state=VersionReview.State.READY, progress=0)
        raise
    updated = claimed.update(state=VersionReview.State.FROZEN, frozen_into=frozen, progress=100)
    if updated:
        ReviewEvent.objects.create(
            version=version,
            actor=user,
            action=Action.FROZE,
            detail=f"{counts['approved']:,} approved examples into version {frozen.number}"
            + (f"; {left_out:,} left out" if left_out else ""),
        )
    review.refresh_from_db()
    return frozen


def review_freeze_fail(*, review_id: int) -> None:
    """The worker's freeze broke: the review is open again, so the owner can try once more."""
    VersionReview.objects.filter(id=review_id, state=VersionReview.State.FREEZING).update(
        state=VersionReview.State.READY, progress=0
    )
