"""Dataset services: upload, validate, split, freeze, delete. Keyword-only, named entity_verb.

Public API for other apps:
    dataset_upload(*, team, user, name, method, target_model, uploaded_file, dataset=None) -> DatasetVersion
    dataset_validate(*, version) -> DatasetVersion
    dataset_version_split(*, version, fraction, seed) -> DatasetVersion
    version_freeze(*, version, user) -> DatasetVersion
    version_derive(*, parent, examples, user, note, freeze) -> DatasetVersion
    version_exports_check(*, version) -> DatasetVersion
    version_exports_schedule(*, version) -> DatasetVersion
    dataset_delete(*, dataset, user) -> None
    version_training_blobs(*, version) -> tuple[Blob, Blob | None]
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Max, ProtectedError
from django.utils import timezone

from datasets_app import sniff
from datasets_app.blobs import (
    blob_forget_file,
    blob_store_chunks,
    blob_store_file,
    blob_store_path,
    blob_tmp_dir,
)
from datasets_app.canonical import content_hash, example_bytes
from datasets_app.lines import example_lines
from datasets_app.models import Blob, Dataset, DatasetVersion
from datasets_app.rules import MIN_EXAMPLES
from datasets_app.validation import validate_file
from fineweb.accounts.models import Membership, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


class DatasetError(Exception):
    """A refusal that the page shows as it is: one sentence a person can act on."""


def inline_validation_limit() -> int:
    """Files up to this size are validated in the request; larger ones in a Celery task."""
    return settings.DATASET_INLINE_VALIDATE_BYTES


def human_size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def upload_problem(*, uploaded_file) -> str | None:
    """Why this upload cannot be stored at all (too big, empty, zip, UTF-16, JSON array), or None."""
    limit = settings.DATASET_MAX_UPLOAD_BYTES
    if uploaded_file.size > limit:
        return f"The file is {human_size(uploaded_file.size)}; the limit is {human_size(limit)}."
    uploaded_file.seek(0)
    head = uploaded_file.read(sniff.HEAD_BYTES)
    uploaded_file.seek(0)
    return sniff.file_problem(head, uploaded_file.size)


def dataset_upload(
    *,
    team: Team,
    user: User,
    name: str = "",
    method: str = Dataset.Method.SUPERVISED,
    target_model: str = "",
    uploaded_file,
    dataset: Dataset | None = None,
) -> DatasetVersion:
    """Store an uploaded file as the next version of `dataset` (or of a new dataset) and validate it.

    Files that cannot be a JSONL file at all are refused with DatasetError before anything is
    stored. Small files are validated here; large ones by a worker (the page shows progress).
    """
    problem = upload_problem(uploaded_file=uploaded_file)
    if problem:
        raise DatasetError(problem)
    blob, created = blob_store_file(fileobj=uploaded_file)
    try:
        with transaction.atomic():
            if dataset is None:
                dataset = Dataset.objects.create(
                    team=team,
                    name=name.strip() or Path(uploaded_file.name).stem,
                    method=method,
                    target_model=target_model or Dataset._meta.get_field("target_model").default,
                    created_by=user,
                )
            Dataset.objects.select_for_update().filter(id=dataset.id).first()
            number = (dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            version = DatasetVersion.objects.create(
                dataset=dataset, number=number, blob=blob, original_filename=uploaded_file.name[:255]
            )
            if blob.size > inline_validation_limit():
                from datasets_app.tasks import dataset_validate_task

                transaction.on_commit(lambda: dataset_validate_task.delay(version.id))
    except BaseException:
        if created:
            blob_forget_file(blob=blob)
        raise
    if blob.size <= inline_validation_limit():
        dataset_validate(version=version)
    return version


def dataset_validate(*, version: DatasetVersion) -> DatasetVersion:
    """Validate a version's file and store the report. Idempotent: a version that is no longer
    "validating" is left as it is, and the final write only lands on a validating row."""
    version.refresh_from_db()
    if version.status != DatasetVersion.Status.VALIDATING:
        return version
    rows = DatasetVersion.objects.filter(id=version.id, status=DatasetVersion.Status.VALIDATING)
    dataset = version.dataset

    def store_progress(percent: int) -> None:
        rows.update(progress=percent)

    try:
        report = validate_file(
            version.blob.path,
            method=dataset.method,
            model=dataset.target_model,
            on_progress=store_progress,
        ).to_dict()
    except Exception:
        logger.exception("validating dataset version %s failed", version.id)
        report = {
            "ok": False,
            "errors": [
                {
                    "line": 0,
                    "message": "Checking the file failed unexpectedly; upload it again or tell an administrator.",
                }
            ],
            "warnings": [],
            "error_count": 1,
            "warning_count": 0,
            "error_summary": [],
            "warning_summary": [],
            "stats": {},
        }
    status = DatasetVersion.Status.VALID if report["ok"] else DatasetVersion.Status.INVALID
    rows.update(status=status, report=report, progress=100)
    version.refresh_from_db()
    if version.parent_id is not None and version.is_valid:
        _derived_finish(version=version)
    return version


def dataset_version_fail(*, version_id: int, message: str) -> None:
    """Mark a version that could not be validated (a worker gave up) as invalid, with a reason."""
    DatasetVersion.objects.filter(id=version_id, status=DatasetVersion.Status.VALIDATING).update(
        status=DatasetVersion.Status.INVALID,
        report={
            "ok": False,
            "errors": [{"line": 0, "message": message}],
            "warnings": [],
            "error_count": 1,
            "warning_count": 0,
            "error_summary": [],
            "warning_summary": [],
            "stats": {},
        },
    )


def _example_lines(path: Path) -> Iterator[bytes]:
    """Each example line of a valid file (a valid file has no over-long line)."""
    with path.open("rb") as f:
        for number, raw in example_lines(f):
            if raw is None:
                raise DatasetError(f"Line {number} is too long to be an example; check the file again.")
            yield raw


def dataset_version_split(*, version: DatasetVersion, fraction: float, seed: int) -> DatasetVersion:
    """Split a valid version into train and validation files (two new blobs), reproducibly:
    the same seed and fraction always pick the same validation examples."""
    if version.is_frozen:
        raise DatasetError("This version is frozen: its files can no longer change.")
    if not version.is_valid:
        raise DatasetError("Only a valid version can be split; fix the errors first.")
    if not 0 < fraction <= 0.5:
        raise DatasetError("The validation share must be more than 0 and at most 0.5 (50%).")
    n = sum(1 for _ in _example_lines(version.blob.path))
    n_val = max(1, round(n * fraction))
    if n - n_val < MIN_EXAMPLES:
        raise DatasetError(
            f"Only {n - n_val} examples would be left for training; keep at least {MIN_EXAMPLES}."
        )
    chosen = bytearray(n)  # 1 byte per example: flat enough for any file we accept
    for index in random.Random(seed).sample(range(n), n_val):
        chosen[index] = 1
    tmp = blob_tmp_dir()
    with (
        tempfile.NamedTemporaryFile(dir=tmp, delete=False) as train,
        tempfile.NamedTemporaryFile(dir=tmp, delete=False) as val,
    ):
        try:
            for index, raw in enumerate(_example_lines(version.blob.path)):
                (val if chosen[index] else train).write(raw + b"\n")
            train.close()
            val.close()
            train_blob, _ = blob_store_path(path=train.name)
            validation_blob, _ = blob_store_path(path=val.name)
        finally:
            for name in (train.name, val.name):
                if os.path.exists(name):
                    os.unlink(name)
    updated = DatasetVersion.objects.filter(id=version.id, frozen_at__isnull=True).update(
        train_blob=train_blob, validation_blob=validation_blob, split_seed=seed, split_fraction=fraction
    )
    if not updated:
        raise DatasetError("This version was frozen meanwhile: its files can no longer change.")
    version.refresh_from_db()
    return version


def version_freeze(*, version: DatasetVersion, user: User) -> DatasetVersion:
    """Freeze a valid version as it is, so it can be trained on. Owners and reviewers only.

    No page calls this: the version page leads to the review (`DATASET_FREEZE_URL`), whose gate
    freezes the approved examples into a new version (`version_derive(freeze=True)`). It stays for
    fixtures and scripts that need a frozen version of a file as it is.
    """
    membership = Membership.objects.filter(team_id=version.dataset.team_id, user=user).first()
    if membership is None or not membership.can_review:
        raise DatasetError("Only an owner or a reviewer of the team can freeze a version.")
    if version.status != DatasetVersion.Status.VALID:
        raise DatasetError(
            "Only a valid version can be frozen; this one has errors or is still being checked."
        )
    updated = DatasetVersion.objects.filter(
        id=version.id, frozen_at__isnull=True, status=DatasetVersion.Status.VALID
    ).update(frozen_at=timezone.now(), frozen_by=user)
    version.refresh_from_db()
    if not updated and not version.is_frozen:
        raise DatasetError("This version could not be frozen; reload the page.")
    if updated:
        version = version_exports_schedule(version=version)
    return version


# --- export formats --------------------------------------------------------------------------------
EXPORTS_PENDING = "pending"


def version_exports_schedule(*, version: DatasetVersion) -> DatasetVersion:
    """Check a newly frozen version against its export formats: here for a small file, else by the
    worker (the page says "checking" meanwhile)."""
    if version.blob.size <= inline_validation_limit():
        return version_exports_check(version=version)
    claimed = DatasetVersion.objects.filter(id=version.id, exports={}).update(exports={EXPORTS_PENDING: True})
    if claimed:
        from datasets_app.tasks import version_exports_check_task

        transaction.on_commit(lambda: version_exports_check_task.delay(version.id))
        version.refresh_from_db()
    return version


def version_exports_check(*, version: DatasetVersion) -> DatasetVersion:
    """Check every example of a frozen version against each export format of its method and store
    {format: {"ok": True, "n": examples} or {"ok": False, "reason": sentence}} on the version.
    The file never changes, so this runs once; it is idempotent."""
    from datasets_app import exports

    if not version.is_frozen:
        raise DatasetError(
            "Only a frozen version can be exported: review it and freeze the approved examples first."
        )
    results: dict = {}
    for fmt in exports.formats_for(version.dataset.method):
        with version.blob.open() as f:
            try:
                results[fmt.key] = exports.check_file(fmt, f)
            except Exception:
                logger.exception("checking version %s for export as %s failed", version.id, fmt.key)
                results[fmt.key] = {"ok": False, "reason": "Checking this format failed unexpectedly."}
    DatasetVersion.objects.filter(id=version.id).update(exports=results)
    version.refresh_from_db()
    return version


def version_training_blobs(*, version: DatasetVersion) -> tuple[Blob, Blob | None]:
    """The files a job trains on: the split's train and validation files, or the whole file."""
    if not version.is_frozen:
        raise DatasetError(
            "Only a frozen version can be trained on: review it and freeze the approved examples first."
        )
    if version.train_blob_id:
        assert version.train_blob is not None  # train_blob_id is set
        return version.train_blob, version.validation_blob
    return version.blob, None


def dataset_delete(*, dataset: Dataset, user: User) -> None:
    """Delete a dataset and its versions (their files stay: other versions may share them).
    Refused when a fine-tuning job used it (jobs protect the versions they trained on)."""
    membership = Membership.objects.filter(team_id=dataset.team_id, user=user).first()
    if membership is None or not (membership.is_owner or dataset.created_by_id == user.id):
        raise DatasetError("Only a team owner or the person who uploaded it can delete a dataset.")
    try:
        with transaction.atomic():
            dataset.delete()
    except ProtectedError as exc:
        raise DatasetError(
            "A fine-tuning job used this dataset, so it is kept for that job's record."
        ) from exc


# --- derived versions (the review's fixes and "approved only") ------------------------------------
def version_derive(
    *,
    parent: DatasetVersion,
    examples: Iterable[dict],
    user: User,
    note: str,
    freeze: bool,
) -> DatasetVersion:
    """Write `examples` as a new version of the parent's dataset, derived from `parent`.

    The file is one example per line in a stable serialisation (`canonical.example_bytes`), stored
    as a Blob by sha256; the new version records its parent, the note and who made it, and is
    validated like an upload (so its statistics and cost are computed again): inline up to the
    inline limit, else by the worker. Where the parent was split, the new file is split the same
    way: an example that was held out stays held out, one the parent trained on stays in training,
    and a new or changed one is placed by a hash of its content with the parent's seed, so about
    the parent's share is held out (`_derived_finish`).

    freeze=True freezes it as `user` once it is valid: at once for a file validated inline (an
    invalid result then raises DatasetError and nothing is kept); for a large file when the worker
    has validated it (an invalid one stays an invalid draft with its report). freeze=False gives a
    draft. The parent is never changed.
    """
    membership = Membership.objects.filter(team_id=parent.dataset.team_id, user=user).first()
    if membership is None or not membership.can_review:
        raise DatasetError("Only an owner or a reviewer of the team can make a new version of a dataset.")
    if parent.status == DatasetVersion.Status.VALIDATING:
        raise DatasetError("This version is still being checked; wait until the check is done.")
    count = 0

    def chunks() -> Iterator[bytes]:
        nonlocal count
        buffer = bytearray()
        for example in examples:
            if not isinstance(example, dict):
                raise DatasetError(f"Example {count + 1} is not a conversation (a JSON object).")
            try:
                buffer += example_bytes(example)
            except TypeError as exc:
                raise DatasetError(f"Example {count + 1} cannot be written as JSON: {exc}.") from exc
            buffer += b"\n"
            count += 1
            if len(buffer) >= 1024 * 1024:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)

    blob, created = blob_store_chunks(chunks=chunks())
    if count == 0:
        if created:
            blob_forget_file(blob=blob)
        raise DatasetError("There are no examples to keep, so no new version was made.")
    inline = blob.size <= inline_validation_limit()
    try:
        with transaction.atomic():
            dataset = Dataset.objects.select_for_update().get(id=parent.dataset_id)
            number = (dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            version = DatasetVersion.objects.create(
                dataset=dataset,
                number=number,
                blob=blob,
                original_filename=f"{dataset.name}-v{number}.jsonl"[:255],
                parent=parent,
                note=note.strip(),
                created_by=user,
                freeze_requested_by=user if freeze else None,
            )
            if inline:
                dataset_validate(version=version)
                if freeze and not version.is_frozen:
                    raise DatasetError(_not_frozen_reason(version))
            else:
                from datasets_app.tasks import dataset_validate_task

                transaction.on_commit(lambda: dataset_validate_task.delay(version.id))
    except BaseException:
        if created:
            blob_forget_file(blob=blob)
        raise
    return version


def _not_frozen_reason(version: DatasetVersion) -> str:
    errors = (version.report or {}).get("errors") or []
    if errors:
        first = errors[0]
        where = f"example {first['line']}: " if first.get("line") else ""
        return (
            f"The new version could not be frozen because it has {version.report.get('error_count', 1)} "
            f"error(s), first {where}{first['message']}"
        )
    return "The new version could not be frozen; reload the page and try again."


def _derived_finish(*, version: DatasetVersion) -> None:
    """After a derived version turned out valid: carry the parent's split over, then freeze it if
    that was asked for. Runs where the validation ran (the request or the worker)."""
    parent = version.parent
    if (
        parent is not None
        and parent.train_blob_id
        and parent.validation_blob_id
        and not version.train_blob_id
    ):
        try:
            _split_like_parent(version=version, parent=parent)
        except DatasetError:
            logger.info("version %s: the parent's split could not be carried over", version.id)
    if version.freeze_requested_by_id is not None and not version.is_frozen:
        updated = DatasetVersion.objects.filter(id=version.id, frozen_at__isnull=True).update(
            frozen_at=timezone.now(), frozen_by_id=version.freeze_requested_by_id
        )
        version.refresh_from_db()
        if updated:
            version_exports_schedule(version=version)


def _split_like_parent(*, version: DatasetVersion, parent: DatasetVersion) -> None:
    assert parent.validation_blob is not None and parent.split_fraction is not None
    held_out = {content_hash(raw) for raw in _example_lines(parent.validation_blob.path)}
    in_parent = {content_hash(raw) for raw in _example_lines(parent.blob.path)}
    fraction = parent.split_fraction
    seed = str(parent.split_seed or 0).encode()
    threshold = int(fraction * 2**64)
    tmp = blob_tmp_dir()
    n_train = n_val = 0
    with (
        tempfile.NamedTemporaryFile(dir=tmp, delete=False) as train,
        tempfile.NamedTemporaryFile(dir=tmp, delete=False) as val,
    ):
        try:
            for raw in _example_lines(version.blob.path):
                digest = content_hash(raw)
                if digest in held_out:
                    to_val = True
                elif digest in in_parent:
                    to_val = False
                else:  # new or changed: placed by its content, the same way every time
                    draw = hashlib.blake2b(seed + digest, digest_size=8).digest()
                    to_val = int.from_bytes(draw, "big") < threshold
                (val if to_val else train).write(raw + b"\n")
                n_val += to_val
                n_train += not to_val
            train.close()
            val.close()
            if n_val == 0 or n_train < MIN_EXAMPLES:
                raise DatasetError("Too few examples to keep the parent's split.")
            train_blob, _ = blob_store_path(path=train.name)
            validation_blob, _ = blob_store_path(path=val.name)
        finally:
            for name in (train.name, val.name):
                if os.path.exists(name):
                    os.unlink(name)
    DatasetVersion.objects.filter(id=version.id, frozen_at__isnull=True).update(
        train_blob=train_blob,
        validation_blob=validation_blob,
        split_seed=parent.split_seed,
        split_fraction=parent.split_fraction,
    )
    version.refresh_from_db()
