"""The live Rich table on a terminal: a section per ORM, a row per database, an overall bar."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from tenant_router.events import (
    MigrationEvent,
    RunStarted,
    Status,
    StepApplied,
    StepStarted,
    TenantFailed,
    TenantFinished,
    TenantPlanned,
    TenantSkipped,
    TenantStarted,
)
from tenant_router.plaintext import STATUS_WORDS
from tenant_router.report import DbKey, database_label

from .output import Output
from .render import STATUS_STYLES


@dataclass
class Row:
    orm: str
    name: str
    state: str = "running"
    style: str = "bold"
    current: str = "-"
    applied: int = 0
    pending: int | None = None
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None


class LiveProgress:
    """An on_event callback that keeps a live table; rows beyond the screen fold into counts."""

    def __init__(self, output: Output, *, max_rows: int = 0) -> None:
        self.output = output
        self.rows: dict[DbKey, Row] = {}
        self.progress = Progress(
            TextColumn("[bold]overall"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=output.out,
        )
        self.task = self.progress.add_task("overall", total=None)
        self.max_rows = max_rows or max(8, output.out.size.height - 8)
        self.live = Live(self, console=output.out, refresh_per_second=8, transient=False)

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.live.__exit__(et, e, tb)

    def __call__(self, event: MigrationEvent) -> None:
        """Update the rows and the bar from one event."""
        if isinstance(event, RunStarted):
            self.progress.update(self.task, total=event.planned)
            return
        key = (event.orm, event.tenant, event.alias)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row(event.orm, database_label(event.tenant, event.alias))
        match event:
            case TenantStarted():
                row.state, row.style, row.started = "starting", "bold", time.monotonic()
            case TenantPlanned(steps=steps, current=current):
                row.pending, row.current, row.state = len(steps), current or "-", "migrating"
            case StepStarted(step=step):
                row.current = f"→ {step}"
            case StepApplied(step=step):
                row.applied += 1
                row.current = step
            case TenantFinished(status=status, seconds=seconds):
                self._done(row, status, seconds)
            case TenantFailed(step=step, seconds=seconds):
                self._done(row, Status.FAILED, seconds)
                row.current = step or row.current
            case TenantSkipped(status=status):
                self._done(row, status, 0.0)

    def _done(self, row: Row, status: Status, seconds: float) -> None:
        row.state, row.style, row.seconds = STATUS_WORDS[status], STATUS_STYLES[status], seconds
        self.progress.advance(self.task)

    def _visible(self, rows: list[Row]) -> tuple[list[Row], int]:
        """Running and failed rows first, then the most recent others, within the height budget."""
        active = [r for r in rows if r.seconds is None or r.style == STATUS_STYLES[Status.FAILED]]
        rest = [r for r in rows if r not in active]
        budget = max(self.max_rows - len(active), 0)
        shown = active[-self.max_rows :] + (rest[-budget:] if budget else [])
        return shown, len(rows) - len(shown)

    def __rich__(self) -> RenderableType:
        parts: list[RenderableType] = []
        all_rows = list(self.rows.values())
        for orm in dict.fromkeys(r.orm for r in all_rows):
            rows = [r for r in all_rows if r.orm == orm]
            shown, hidden = self._visible(rows)
            table = Table(title=orm, title_justify="left", expand=False)
            for col, justify in (("database", "left"), ("state", "left"), ("migration", "left"),
                                 ("applied/total", "right"), ("elapsed", "right")):  # fmt: skip
                table.add_column(col, justify=justify)  # type: ignore[arg-type]
            for r in shown:
                elapsed = r.seconds if r.seconds is not None else time.monotonic() - r.started
                total = "?" if r.pending is None else str(r.pending)
                table.add_row(r.name, f"[{r.style}]{r.state}[/]", r.current, f"{r.applied}/{total}",
                              f"{elapsed:.1f}s")  # fmt: skip
            if hidden:
                table.caption = f"{hidden} more finished database(s) not shown"
            parts.append(table)
        parts.append(self.progress)
        return Group(*parts)
