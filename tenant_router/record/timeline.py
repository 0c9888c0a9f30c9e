"""One run's journal read back as a timeline: a lane per worker, a bar per database, on the run's clock.

Times are seconds since the run began, as the run's process saw each line (`t`). A database's bar runs
from its "started" line (or, for one settled without starting, such as an up-to-date database the
pre-flight settled, from its end less its duration) to its outcome; one with no outcome (a run killed or
still going) runs to the last time seen and has outcome None. A requeued database keeps its earlier,
busy attempts. Planned databases that never began are listed apart (`not_reached`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .history import writer_alive

RUN_PROCESS = "run process"  # the lane of what ran in the run's own process (--jobs 1, reserved databases)


@dataclass
class Attempt:
    """One go at a database that ended busy and was requeued."""

    lane: str
    start: float
    end: float
    error: str | None


@dataclass
class Bar:
    """One database on the timeline."""

    orm: str
    tenant: str | None
    alias: str | None
    lane: str
    start: float
    end: float
    outcome: str | None = None  # a Status value; None: no outcome recorded
    error: str | None = None
    step: str | None = None  # the step that failed
    steps: list[tuple[str, float, float]] = field(default_factory=list)  # (step, start, end)
    earlier: list[Attempt] = field(default_factory=list)


@dataclass
class Timeline:
    """What a picture of one run shows."""

    run: str
    started: str | None
    finished: str | None
    state: str  # finished | interrupted | stopped | running | killed
    end: float  # the last time seen (now, for a run still going)
    lanes: list[str]
    databases: list[Bar]
    counts: dict[str, int]
    not_reached: list[tuple[str, str | None, str | None]]
    argv: Any = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def read_timeline(path: Path) -> Timeline:
    """Read the journal file `path` (a torn last line, a missing closing line tolerated)."""
    records = _records(path)
    if not records or "journal" not in records[0]:
        raise UsageError(f"{str(path)!r} is not a tenant-router journal.")
    header, footer = records[0], None
    bars: dict[tuple[str, str | None, str | None], Bar] = {}
    last = 0.0
    for record in records[1:]:
        t = float(record.get("t", last))
        last = max(last, t)
        if "finished" in record:
            footer = record
            continue
        key = (record["orm"], record["tenant"], record["alias"])
        if record.get("event") == "started":
            _start(bars, key, record, t)
        elif "status" in record:
            _settle(bars, key, record, t)
    state = _state(header, footer)
    end = max(last, time.time() - header["clock"]) if state == "running" and "clock" in header else last
    for bar in bars.values():
        if bar.outcome is None:
            bar.end = end
    counts: dict[str, int] = {}
    for bar in bars.values():
        outcome = bar.outcome or "no outcome"
        counts[outcome] = counts.get(outcome, 0) + 1
    planned = [tuple(key) for key in header.get("databases") or ()]
    seen = {bar.lane for bar in bars.values()} | {a.lane for bar in bars.values() for a in bar.earlier}
    lanes = sorted(seen, key=lambda lane: (lane != RUN_PROCESS, _pid(lane), lane))
    return Timeline(
        run=header["run"],
        started=header.get("started"),
        finished=footer.get("finished") if footer else None,
        state=state,
        end=end,
        lanes=lanes,
        databases=list(bars.values()),
        counts=counts,
        not_reached=[key for key in planned if key not in bars],
        argv=header.get("argv"),
    )


def _records(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"Cannot read the journal {str(path)!r}: {exc.strerror or exc}.") from exc
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # the torn last line of a killed run
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _start(
    bars: dict[Any, Bar], key: tuple[str, str | None, str | None], record: dict[str, Any], t: float
) -> None:
    lane = record.get("worker") or RUN_PROCESS
    bar = bars.get(key)
    if bar is None:
        bars[key] = Bar(*key, lane=lane, start=t, end=t)
        return
    if bar.outcome is not None:  # it was requeued: keep the busy attempt, start again
        bar.earlier.append(Attempt(bar.lane, bar.start, bar.end, bar.error))
    bar.lane, bar.start, bar.end, bar.outcome, bar.error, bar.steps = lane, t, t, None, None, []


def _settle(
    bars: dict[Any, Bar], key: tuple[str, str | None, str | None], record: dict[str, Any], t: float
) -> None:
    bar = bars.get(key)
    if bar is None or bar.outcome is not None:  # settled without a "started" line (e.g. by the pre-flight)
        if bar is not None:
            bar.earlier.append(Attempt(bar.lane, bar.start, bar.end, bar.error))
        bar = bars[key] = Bar(
            *key, lane=RUN_PROCESS, start=max(0.0, t - float(record.get("seconds") or 0)), end=t
        )
    bar.end, bar.outcome = t, record["status"]
    bar.error, bar.step = record.get("error"), record.get("step")
    for name, step_end, seconds in record.get("steps") or ():
        bar.steps.append((name, max(bar.start, round(step_end - seconds, 3)), step_end))


def _state(header: dict[str, Any], footer: dict[str, Any] | None) -> str:
    if footer is not None:
        if footer.get("interrupted"):
            return "interrupted"
        return "stopped" if footer.get("stopped") else "finished"
    return "running" if writer_alive(header) else "killed"  # "killed?" when it cannot tell


def _pid(lane: str) -> int:
    number = lane.removeprefix("pid ")
    return int(number) if number.isdigit() else 0
