"""The embedded Celery broker: kombu's filesystem transport with atomic writes and claims.

kombu's own transport (kombu 5.7, `kombu/transport/filesystem.py`) writes a message straight into
the queue folder, so a consumer listing the folder can open a file before its bytes are written,
read an empty payload and die on `JSONDecodeError` (kombu issue #1551; seen here as a worker, and
with it the whole `make run`, stopping after a burst of uploads). It also claims a message by
`shutil.move` into the system temp folder, which is a copy and a delete when that folder is on
another file system: two consumers can then both read the same message.

This transport keeps the on-disk layout (one `<ms>_<uuid>.<queue>.msg` file per message) and
changes three things, each a rename within one file system, which POSIX makes atomic:
- publish writes to `<queue folder>/.staging/` and renames the finished file into the queue folder,
  so a reader only ever sees complete files;
- a consumer claims a message by renaming it into `<queue folder>/.claimed/`: exactly one consumer
  wins, the others get `FileNotFoundError` and move on;
- the exchange tables (fanout bindings) are rewritten whole into a temporary file and renamed into
  place under an exclusive lock on a separate lock file, so a reader never sees a half-written table.
A payload that still cannot be decoded (a disk that filled up mid-write, say) is moved to
`.unreadable/` and logged instead of killing the worker.

Select it with `CELERY_BROKER_URL=filesystem://` (settings set `CELERY_BROKER_TRANSPORT` to this
class then); the transport options are kombu's (`data_folder_in`, `data_folder_out`,
`processed_folder`, `store_processed`, `control_folder`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

STAGING = ".staging"
CLAIMED = ".claimed"
UNREADABLE = ".unreadable"


def _write_atomically(path: Path, data: bytes, staging: Path) -> None:
    """Write `data` to `path` so that no reader ever sees a partial file (`staging` exists, on the
    same file system as `path`)."""
    tmp = staging / f"{uuid.uuid4().hex}.part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Channel(filesystem.Channel):
    """kombu's filesystem channel with atomic publish, claim and exchange-table updates."""

    def _folder(self, base: str | Path, name: str) -> Path:
        """`base/name`, made once per channel: `_get` asks for it on every poll."""
        folder = Path(base) / name
        made = self.__dict__.setdefault("_made_folders", set())
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        return folder

    # ------------------------------------------------------------------ messages

    # Both signatures are those of kombu's own filesystem Channel, which mypy finds off its base.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        out = self.data_folder_out
        try:
            _write_atomically(Path(out) / name, str_to_bytes(dumps(payload)), self._folder(out, STAGING))
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {name!r} to {out!r}") from exc

    def _get(self, queue: str) -> Any:  # type: ignore[override]
        queue_find = f"{queue}.msg"
        folder_in = self.data_folder_in
        claimed = self._folder(folder_in, CLAIMED)
        for filename in sorted(os.listdir(folder_in)):
            if filename.partition(".")[2] != queue_find:
                continue
            mine = claimed / filename
            try:
                os.rename(os.path.join(folder_in, filename), mine)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            try:
                payload = mine.read_bytes()
            except OSError as exc:
                raise filesystem.ChannelError(f"Cannot read file {str(mine)!r} from queue.") from exc
            try:
                message = loads(bytes_to_str(payload))
            except ValueError:
                bad = self._folder(folder_in, UNREADABLE) / filename
                os.replace(mine, bad)
                log.error("broker: message file %s could not be decoded; kept as %s", filename, bad)
                continue
            if self.store_processed:
                shutil.move(str(mine), os.path.join(self.processed_folder, filename))
            else:
                mine.unlink(missing_ok=True)
            return message
        raise Empty()

    # ------------------------------------------------------------------ exchange tables

    def _table_lock(self) -> Any:
        self.control_folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.control_folder / ".lock", "a+b")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        return handle

    def _read_table(self, file: Path) -> list:
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            return []
        if not raw.strip():
            return []  # an empty table file left by kombu's own transport
        return [filesystem.exchange_queue_t(*q) for q in loads(bytes_to_str(raw))]

    def get_table(self, exchange: str) -> list:
        file = self._exchange_file(exchange)
        try:
            return self._read_table(file)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot open {file}") from exc

    def _update_table(self, exchange: str, change: Any) -> None:
        file = self._exchange_file(exchange)
        try:
            with self._table_lock():
                queues = self._read_table(file)
                updated = change(list(queues))
                if updated != queues:
                    _write_atomically(
                        file, str_to_bytes(dumps(updated)), self._folder(self.control_folder, STAGING)
                    )
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot open {file}") from exc

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        value = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._update_table(exchange, lambda queues: queues if value in queues else [value, *queues])

    def _delete(
        self, queue: str, exchange: str, routing_key: str, pattern: str, *args: Any, **kwargs: Any
    ) -> None:
        # The virtual channel's own bookkeeping, then our table (kombu's _delete would rewrite it in place).
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        value = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._update_table(exchange, lambda queues: [q for q in queues if q != value])


class Transport(filesystem.Transport):
    """The filesystem transport with `Channel` above; shares kombu's in-process broker state."""

    Channel = Channel

    @property
    def default_connection_params(self):
        # Folders, not a host: without this kombu warns "No hostname was supplied" on every
        # connection (filesystem:// has none), a false warning on make run's console.
        return {"port": self.default_port}
