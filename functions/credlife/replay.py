"""Replay: feed exported events through the same rules as the event Lambda, with one state store for the
whole replay and the clock taken from each event's `eventTime`. Used to test samples and to tune the rules
on exported CloudTrail data.

Inputs, in the order given (a folder: its files, recursively, sorted by path):

- an EventBridge-wrapped event (`{"source", "detail-type", "detail", ...}`),
- a bare CloudTrail record (`{"eventVersion", "eventName", ...}`),
- a CloudTrail log file (`{"Records": [...]}`), gzip-compressed or not (detected by content, not name),
- a JSON list of any of the above, or JSON Lines (one event per line).

One JSON object per input event: `file`, `index` (the record's position inside a file holding several),
`event_id`, `risky`, `severity`, `reasons`, and more. A file that cannot be read or parsed yields one
`malformed` row; nothing stops the replay.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credlife.domain.risk import RiskPolicy
from credlife.risk_monitor import MemorySigninState, RiskMonitor, SigninStatePort, Unjudgeable, judge_each

_SUFFIXES = (".json", ".jsonl", ".gz")


@dataclass(frozen=True, slots=True)
class ReplayStats:
    events: int
    risky: int
    malformed: int
    ignored: int = 0


def files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Each path in order; a folder expands to its event files, sorted. A missing path raises
    FileNotFoundError before anything is replayed."""
    resolved = [Path(p) for p in paths]
    for path in resolved:
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
    for path in resolved:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(_SUFFIXES))
        else:
            yield path


def read(path: Path) -> Iterator[tuple[int | None, Any]]:
    """The events in one file as `(index, event)`; index is None for a file holding one event. A file that
    cannot be decoded yields one `(None, Unjudgeable)`."""
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        text = data.decode("utf-8-sig")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as error:  # BadGzipFile is an OSError
        yield None, Unjudgeable(f"unreadable file ({type(error).__name__})")
        return
    try:
        loaded = json.loads(text)
    except (ValueError, RecursionError):
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            yield None, Unjudgeable("not JSON")
            return
        yield from enumerate(lines)  # JSON Lines: a bad line is judged malformed on its own
        return
    if isinstance(loaded, dict) and isinstance(loaded.get("Records"), list):
        yield from enumerate(loaded["Records"])
    elif isinstance(loaded, list):
        yield from enumerate(loaded)
    else:
        yield None, loaded


def replay(
    paths: Iterable[str | Path],
    *,
    policy: RiskPolicy | None = None,
    state: SigninStatePort | None = None,
) -> Iterator[dict[str, Any]]:
    """One row per input event, in input order. Nothing is published: alerts are what the rows say. The
    judging is the event Lambda's own (`risk_monitor.judge_each`); an out-of-scope event is `ignored`."""
    monitor = RiskMonitor(state or MemorySigninState(), policy or RiskPolicy())
    where: list[tuple[Path, int | None]] = []

    def inputs() -> Iterator[Any]:
        for path in files(paths):
            for index, event in read(path):
                where.append((path, index))
                yield event

    for result in judge_each(monitor, inputs()):
        path, index = where.pop(0)
        row: dict[str, Any] = {"file": str(path)}
        if index is not None:
            row["index"] = index
        row.update(result.as_row())
        yield row


def summarise(rows: Iterable[dict[str, Any]]) -> ReplayStats:
    events = risky = bad = ignored = 0
    for row in rows:
        events += 1
        risky += bool(row["risky"])
        bad += "malformed" in row["reasons"]
        ignored += bool(row.get("ignored"))
    return ReplayStats(events, risky, bad, ignored)
