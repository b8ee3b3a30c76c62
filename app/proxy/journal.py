"""A worker's usage journal: each event is on disk the moment the hook hands it over, until the
database has it, so a worker that is killed (SIGKILL included) loses none of the events it held.

`append` writes one line per event to `<dir>/<worker>.<segment>.jsonl` (one `write` per line, no
fsync: the page cache outlives a killed process). The writer thread closes the open segment before
each flush and removes the closed segments once the flush committed. In the same transaction the flush
stores the highest sequence number it wrote of each worker's journal (`UsageJournalMark`), so a journal
that is read again after its worker died, even between that commit and the removal of its files, adds
only what is past its mark: every event is written once.

A worker adopts the files of dead workers on its host by renaming them to its own name, all of a dead
worker's files by one adopter (under a lock on the directory); if the adopter dies too, the next one
adopts them from it. An event dropped from memory (the buffer is bounded while the database is away)
gets a `dropped` line naming it, so an adopter counts it in the usage_dropped alert instead of writing it.

LiteLLM hands a request's success event to the hooks only after the response went out (its logging
worker runs the callbacks from an in-memory queue, ~10-100 ms later): a worker killed in between would
lose the event of a request its caller got an answer for. So the hooks journal an `answered` line for
each request before its response leaves (`answered`), and the usage row that arrives later names it
(`RESOLVES_KEY`). An answered line whose row never reached the journal is counted dropped by the
adopter. Until its row arrives, each answered line is copied into every new segment, so removing a
committed segment never takes the only copy. Answered lines are numbered in a sequence of their own
(worker `<worker>~answered`): rows arrive out of their order, and only an adopter moves that mark.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import UsageJournalMark
from app.runtime.processes import pid_alive

log = logging.getLogger("llm_admin.hooks")
ENTRY_KEY = "_journal"  # on a row: [worker, seq], where its journal line is; never a column
RESOLVES_KEY = "_answered"  # on a success row: the entry of its request's answered line; never a column
ANSWERED_SUFFIX = "~answered"  # the journal name of a worker's answered lines
ANSWERED_KEPT_SECONDS = 120.0  # LiteLLM gives up on a callback after 20 s: a row this late never comes
LOGGED_KEPT = 10_000  # call ids of rows logged before their answered line (streams: never), newest
MARKS_KEPT = timedelta(days=7)

Entry = tuple[str, int]


def _encode(row: dict[str, Any]) -> str:
    return json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()})


def _decode(line: str) -> dict[str, Any]:
    row = json.loads(line)
    if isinstance(row.get("at"), str):
        row["at"] = datetime.fromisoformat(row["at"])
    return dict(row)


def entry_of(row: dict[str, Any]) -> Entry | None:
    found = row.get(ENTRY_KEY)
    return (str(found[0]), int(found[1])) if found else None


def columns_of(row: dict[str, Any]) -> dict[str, Any]:
    """The row without its journal entries: what goes into usage_events."""
    return {k: v for k, v in row.items() if k not in (ENTRY_KEY, RESOLVES_KEY)}


def owner_of(path: Path) -> tuple[str, str, int] | None:
    """(worker, host, pid) of a journal file `<host>-<pid>-<token>.<segment>.jsonl`, or of a spool
    file `<host>-<pid>.jsonl` an earlier version left."""
    stem = path.name[: -len(".jsonl")]
    worker, _, segment = stem.rpartition(".")
    host_pid, _, token = worker.rpartition("-")
    host, _, pid = host_pid.rpartition("-")
    if segment.lstrip("a").isdigit() and len(token) == 8 and pid.isdigit():
        return worker, host, int(pid)
    host, _, pid = stem.rpartition("-")
    return (stem, host, int(pid)) if pid.isdigit() else None


@dataclass
class Adopted:
    """What the files of dead workers held: rows to write, rows they had dropped, lines cut short."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[Entry] = field(default_factory=list)
    unreadable: int = 0


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.host = socket.gethostname()
        self.worker = f"{self.host}-{os.getpid()}-{secrets.token_hex(4)}"
        self.seq = 0
        self.segment = 0
        self.closed: list[Path] = []  # closed segments and adopted files, removed once committed
        self.answered_worker = self.worker + ANSWERED_SUFFIX
        self.answered_seq = 0
        # call id → the answered lines (number, time) still waiting for their row; a recent row's call
        # id, for a row LiteLLM logged before the response went out
        self.waiting: dict[str, list[tuple[int, float]]] = {}
        self.logged: dict[str, float] = {}
        self._fd: int | None = None
        self._adopted = 0
        self._lock = threading.Lock()

    def _path(self, segment: str) -> Path:
        return self.directory / f"{self.worker}.{segment}.jsonl"

    def _write(self, line: str) -> None:
        if self._fd is None:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self._path(str(self.segment))
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self._fd, (line + "\n").encode())

    def append(
        self,
        row: dict[str, Any],
        into: queue.SimpleQueue[tuple[str, dict[str, Any]]],
        answers: str | None = None,
    ) -> None:
        """Journal the row, then queue it (under one lock: a closed segment's rows are all queued).
        `answers`: the call id of the answered request this is the success row of."""
        with self._lock:
            self.seq += 1
            row = {**row, ENTRY_KEY: [self.worker, self.seq]}
            if answers is not None:
                numbers = self.waiting.get(answers)
                if numbers:
                    row[RESOLVES_KEY] = [self.answered_worker, numbers.pop(0)[0]]
                    if not numbers:
                        del self.waiting[answers]
                else:  # logged before its response went out (or a stream): no answered line needed
                    self.logged[answers] = time.monotonic()
                    if len(self.logged) > LOGGED_KEPT:
                        del self.logged[next(iter(self.logged))]
            try:
                self._write(_encode(row))
            except OSError as exc:  # a full disk: the row is still kept in memory
                log.warning("usage event not journalled (%s)", exc)
            into.put(("usage", row))

    def answered(self, call_id: str) -> None:
        """A request's response is about to go out: journal it until its usage row arrives."""
        with self._lock:
            if self.logged.pop(call_id, None) is not None:
                return
            self.answered_seq += 1
            self.waiting.setdefault(call_id, []).append((self.answered_seq, time.monotonic()))
            try:
                self._write(self._answered_line(self.answered_seq))
            except OSError as exc:
                log.warning("answered request not journalled (%s)", exc)

    def _answered_line(self, number: int) -> str:
        return json.dumps({"answered": [self.answered_worker, number]})

    def _carry_answered(self) -> None:
        """Copy the answered lines still waiting into the new segment (under the lock); forget those
        LiteLLM will not log any more, and the call ids of rows no answered line will come for."""
        old = time.monotonic() - ANSWERED_KEPT_SECONDS
        while self.logged and next(iter(self.logged.values())) <= old:  # oldest first
            del self.logged[next(iter(self.logged))]
        lines: list[str] = []
        for call_id in list(self.waiting):
            kept = [(n, at) for n, at in self.waiting[call_id] if at > old]
            if len(kept) < len(self.waiting[call_id]):
                log.warning("an answered request was never logged by LiteLLM: no usage row for it")
            if kept:
                self.waiting[call_id] = kept
                lines.extend(self._answered_line(n) for n, _ in kept)
            else:
                del self.waiting[call_id]
        if lines:
            try:
                self._write("\n".join(lines))
            except OSError as exc:
                log.warning("answered requests not journalled (%s)", exc)

    def note_dropped(self, entries: Iterable[Entry]) -> None:
        lines = [json.dumps({"dropped": list(e)}) for e in entries]
        if not lines:
            return
        with self._lock:
            try:
                self._write("\n".join(lines))
            except OSError as exc:
                log.warning("dropped usage events not journalled (%s)", exc)

    def close_segment(self) -> None:
        """Start a new segment; the closed one is removed once a flush committed it."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
                self.closed.append(self._path(str(self.segment)))
                self.segment += 1
                self._carry_answered()

    def committed(self, paths: list[Path]) -> None:
        """Those files' rows are in the database (or counted dropped): they are not needed any more."""
        for path in paths:
            path.unlink(missing_ok=True)
            self.closed.remove(path)

    def _claim(self) -> list[Path]:
        """Rename every file of each dead worker on this host to ours. One adopter takes all of a
        worker's files (under a lock on the directory): split between two, the one that commits the
        later rows first moves the worker's mark past the other's rows, which are then skipped as
        written, and an answered line would be counted dropped by one while the other writes its row."""
        claimed: list[Path] = []
        lock = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            files: dict[tuple[str, str, int], list[Path]] = {}
            for path in sorted(self.directory.glob("*.jsonl")):
                owner = owner_of(path)
                if owner is not None and owner[0] != self.worker and owner[1] == self.host:
                    files.setdefault(owner, []).append(path)
            for (_, _, pid), paths in files.items():
                if pid_alive(pid):
                    continue
                for path in paths:
                    self._adopted += 1
                    target = self._path(f"a{self._adopted}")
                    try:
                        path.rename(target)
                    except FileNotFoundError:  # gone already
                        continue
                    claimed.append(target)
        finally:
            os.close(lock)  # and with it the lock
        return claimed

    def adopt(self) -> Adopted:
        """The rows of every dead worker's journal on this host (see _claim)."""
        found = Adopted()
        if not self.directory.is_dir():
            return found
        answered: set[Entry] = set()
        resolved: set[Entry] = set()
        for claimed in self._claim():
            self.closed.append(claimed)
            for line in claimed.read_text().splitlines():
                if not line.strip():
                    continue
                try:
                    row = _decode(line)
                except ValueError:  # a line cut short (not by a kill: a write is whole or absent)
                    found.unreadable += 1
                    continue
                if "dropped" in row:
                    found.dropped.append((str(row["dropped"][0]), int(row["dropped"][1])))
                elif "answered" in row:
                    answered.add((str(row["answered"][0]), int(row["answered"][1])))
                elif "_dropped" in row:  # an earlier version's spool: a count of events it dropped
                    found.unreadable += int(row["_dropped"])
                else:
                    found.rows.append(row)
                    if row.get(RESOLVES_KEY):
                        resolved.add((str(row[RESOLVES_KEY][0]), int(row[RESOLVES_KEY][1])))
        dropped = set(found.dropped)
        found.rows = [r for r in found.rows if entry_of(r) not in dropped]
        # answered requests whose row died with LiteLLM's queue: counted, in their order
        found.dropped.extend(sorted(answered - resolved))
        return found


def unwritten(
    session: Session, rows: list[dict[str, Any]], dropped: list[Entry]
) -> tuple[list[dict[str, Any]], int]:
    """Of these rows, those past their journal's mark; of the dropped entries, how many are past it.
    Moves the marks past all of them, in the caller's transaction."""
    entries = [entry_of(r) for r in rows]
    highest: dict[str, int] = {}  # worker → the last of its events here: where its mark moves to
    for entry in (*entries, *dropped):
        if entry is not None:
            highest[entry[0]] = max(entry[1], highest.get(entry[0], 0))
    if not highest:
        return rows, len(dropped)
    marks = {
        m.worker: m
        for m in session.scalars(select(UsageJournalMark).where(UsageJournalMark.worker.in_(highest)))
    }

    def fresh(entry: Entry | None) -> bool:
        return entry is None or entry[0] not in marks or entry[1] > marks[entry[0]].seq

    kept = [row for row, entry in zip(rows, entries, strict=True) if fresh(entry)]
    counted = sum(1 for e in dropped if fresh(e))
    now = datetime.now(UTC)
    for worker, seq in highest.items():
        mark = marks.get(worker)
        if mark is None:
            session.add(UsageJournalMark(worker=worker, seq=seq, updated_at=now))
        elif seq > mark.seq:
            mark.seq, mark.updated_at = seq, now
    return kept, counted


def forget(session: Session, worker: str) -> None:
    """A worker that exits with its journal empty takes its marks along; old marks go too."""
    old = UsageJournalMark.updated_at < datetime.now(UTC) - MARKS_KEPT
    mine = UsageJournalMark.worker.in_([worker, worker + ANSWERED_SUFFIX])
    session.execute(delete(UsageJournalMark).where(mine | old))
