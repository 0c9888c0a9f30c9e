"""The live Rich view on a terminal: a section per ORM, a row per database, an overall bar.

Everything fits the terminal: each row is one line (cells are cut with an ellipsis, never wrapped; a
long tenant id in its middle, its alias kept, so ids that differ at the end stay apart),
the rows are shared out among the ORM sections within the screen's height, and the overall bar is
always the last line. Tenant ids and aliases are data, never markup: every cell is a `Text`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
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
from rich.text import Text

from tenant_router import (
    REDACTOR,
    STATUS_WORDS,
    DbKey,
    MigrationEvent,
    OutputLogged,
    RunStarted,
    Status,
    StepApplied,
    StepStarted,
    TenantFailed,
    TenantFinished,
    TenantNoted,
    TenantPlanned,
    TenantRequeued,
    TenantSkipped,
    TenantStarted,
    WorkerLost,
    database_label,
    finished_steps,
    left_at,
    next_steps,
    output_line,
    output_shown,
    printable,
)

from .output import Output
from .render import STATUS_STYLES, fit_label

BACKWARDS = " (backwards)"  # an unapplied step's name ends so
STOP_NOTICE = "stopping after the current migration; Ctrl-C again to abort"
_SECTION_LINES = 2  # the section's heading and the table's header
_COLUMNS = (  # name, justify, fixed width (None: shares what is left), ratio
    ("database", "left", None, 3),
    ("state", "left", 11, None),
    ("migration", "left", None, 2),
    ("applied", "right", 7, None),
    ("elapsed", "right", 7, None),
)


@dataclass
class Row:
    orm: str
    tenant: str | None
    alias: str | None
    state: str = "running"
    style: str = "bold"
    current: str = "-"
    applied: int = 0
    unapplied: int = 0  # steps rolled back
    pending: int | None = None
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None
    status: Status | None = None

    @property
    def active(self) -> bool:
        """Running, or failed: the rows worth a line of the screen first."""
        return self.status is None or self.status is Status.FAILED


class LiveProgress:
    """An on_event callback that keeps a live view; rows beyond the screen fold into counts."""

    def __init__(self, output: Output, verbosity: int = 1) -> None:
        self.output, self.verbosity = output, verbosity
        self.rows: dict[DbKey, Row] = {}
        self.orms: list[str] = []
        self.not_started: Counter[str] = Counter()
        self.notice: str | None = None
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=output.out,
        )
        self.task = self.progress.add_task("overall", total=None)
        self.live = Live(self, console=output.out, refresh_per_second=8, transient=False)

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.live.__exit__(et, e, tb)

    def stopping(self, message: str = STOP_NOTICE) -> None:
        """Show that a stop was asked for (the first Ctrl-C): the view says so until the run ends."""
        self.notice = message
        self.progress.update(self.task, description="stopping")
        self.live.refresh()

    def __call__(self, event: MigrationEvent) -> None:
        """Update the rows and the bar from one event."""
        if isinstance(event, RunStarted):
            self.progress.update(self.task, total=event.planned)
            self.orms = list(event.orms)
            return
        if isinstance(event, OutputLogged):  # above the live region, never inside it
            if output_shown(event, self.verbosity):
                style = (
                    "red"
                    if event.level in ("ERROR", "CRITICAL")
                    else "yellow"
                    if event.level == "WARNING"
                    else ""
                )
                self.live.console.print(Text(output_line(event), style=style), markup=False, highlight=False)
            return
        if isinstance(event, WorkerLost):  # its databases' rows say what became of them
            return
        if event.orm not in self.orms:
            self.orms.append(event.orm)
        key = DbKey(event.orm, event.tenant, event.alias)
        if isinstance(event, TenantSkipped) and event.status is Status.NOT_STARTED:
            self.not_started[event.orm] += 1  # a count, not a row: a stopped run may leave thousands
            self.rows.pop(key, None)
            return
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row(event.orm, event.tenant, event.alias)
        match event:
            case TenantStarted():
                row.state, row.style, row.started = "starting", "bold", time.monotonic()
            case TenantPlanned(steps=steps, current=current):
                row.pending, row.state = len(steps), "migrating"
                row.current = next_steps(steps).replace(" more)", ")") if steps else current or "-"
            case StepStarted(step=step):
                row.current = f"→ {step}"
            case StepApplied(step=step):
                row.applied += 1
                row.unapplied += step.endswith(BACKWARDS)
                row.current = step
            case TenantFinished(status=status, seconds=seconds, current=current, applied=applied):
                row.applied = applied
                if row.unapplied:  # "rolled back 2 to shop.0002_x": the target, not a step undone
                    row.current = finished_steps(applied, row.unapplied, current).removeprefix(", ")
                else:
                    row.current = current or row.current
                if row.pending is None:
                    row.pending = applied
                self._done(row, status, seconds)
            case TenantFailed(step=step, seconds=seconds, status=status):
                self._done(row, status, seconds)
                self._failed_at(row, event)
            case TenantSkipped(status=status):
                self._done(row, status, 0.0)
            case TenantNoted(note=note):  # news worth keeping: above the live region, not in a cell
                self.live.console.print(
                    Text(
                        f"{row.orm} {printable(database_label(row.tenant, row.alias))}: {printable(REDACTOR(note))}"
                    ),
                    markup=False,
                    highlight=False,
                )
            case TenantRequeued(attempt=attempt, retries=retries, delay=delay):
                row.state, row.style = "waiting", "yellow"
                row.current = f"lock: retry {attempt}/{retries} in {delay:g}s"

    @staticmethod
    def _failed_at(row: Row, event: TenantFailed) -> None:
        """What a row that did not finish says: where a fresh read found it, without undone steps."""
        row.applied = max(row.applied - len(event.undone), 0)
        if event.current is None and not event.unknown:  # not read again: nothing new to say
            row.current = event.step or row.current
        else:
            row.current = left_at(event.current, event.step, event.unknown)

    def _done(self, row: Row, status: Status, seconds: float) -> None:
        if row.status is None:
            self.progress.advance(self.task)
        row.status, row.state, row.style, row.seconds = (
            status,
            STATUS_WORDS[status],
            STATUS_STYLES[status],
            seconds,
        )

    # -- layout ------------------------------------------------------------------------------
    def _share(self, sections: dict[str, list[Row]], budget: int) -> dict[str, list[Row]]:
        """Rows to show per ORM within `budget` lines: running and failed first, then the latest others.

        Each kind is dealt out one row per section in turn, so no section starves another.
        """
        shown: dict[str, list[Row]] = {orm: [] for orm in sections}
        for active in (True, False):
            wanted = {orm: [r for r in rows if r.active is active][::-1] for orm, rows in sections.items()}
            while budget > 0 and any(wanted.values()):
                for orm, rows in wanted.items():
                    if budget > 0 and rows:
                        shown[orm].append(rows.pop(0))
                        budget -= 1
        order = {id(r): i for i, r in enumerate(r for rows in sections.values() for r in rows)}
        return {orm: sorted(rows, key=lambda r: order[id(r)]) for orm, rows in shown.items()}

    def _heading(self, orm: str, rows: list[Row], hidden: int, width: int) -> Text:
        counts = Counter(r.status for r in rows)
        running = counts.pop(None, 0)
        parts = [f"{running} running"] if running else []
        parts += [f"{n} {STATUS_WORDS[s]}" for s, n in counts.items() if s is not None]
        if self.not_started[orm]:
            parts.append(f"{self.not_started[orm]} not started")
        if hidden:
            parts.append(f"{hidden} not shown")
        text = Text.assemble((printable(orm), "bold"), ("  " + (", ".join(parts) or "waiting"), "dim"))
        text.truncate(width, overflow="ellipsis")
        return text

    def _table(self, rows: list[Row], width: int) -> Table:
        table = Table(box=None, show_edge=False, pad_edge=False, expand=True, header_style="bold")
        # the database column's width is decided here, so that a long id is cut in its middle with its
        # alias kept (Rich would cut its end: ids that differ only there would read the same)
        fixed = sum(w for _, _, w, _ in _COLUMNS if w) + 2 * (len(_COLUMNS) - 1)  # + padding between
        ratios = sum(r for _, _, _, r in _COLUMNS if r)
        name_width = max((width - fixed) * _COLUMNS[0][3] // ratios, 8)
        for name, justify, fixed_width, ratio in _COLUMNS:
            table.add_column(
                name,
                justify=justify,  # type: ignore[arg-type]
                width=name_width if name == "database" else fixed_width,
                ratio=None if name == "database" else ratio,
                no_wrap=True,
                overflow="ellipsis",
            )
        now = time.monotonic()
        for r in rows:
            elapsed = r.seconds if r.seconds is not None else now - r.started
            total = "?" if r.pending is None else str(r.pending)
            table.add_row(
                Text(fit_label(r.tenant, r.alias, name_width)),
                Text(r.state, style=r.style),
                Text(printable(REDACTOR(r.current))),
                f"{r.applied}/{total}",
                f"{elapsed:.1f}s",
            )
        return table

    def view(self, width: int, height: int) -> Group:
        """Everything that fits `height` lines of `width` columns; the overall bar last."""
        sections = {orm: [r for r in self.rows.values() if r.orm == orm] for orm in self.orms}
        fixed = 1 + (1 if self.notice else 0)  # the bar, the stop notice
        budget = max(height - 1 - fixed - len(sections) * _SECTION_LINES, 0)  # one line spare
        shown = self._share(sections, budget)
        parts: list[RenderableType] = []
        for orm, rows in sections.items():
            visible = shown[orm]
            parts.append(self._heading(orm, rows, len(rows) - len(visible), width))
            if visible:
                parts.append(self._table(visible, width))
        if self.notice:
            parts.append(Text(self.notice, style="bold yellow", no_wrap=True, overflow="ellipsis"))
        parts.append(self.progress)
        return Group(*parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.view(options.max_width, options.height or console.size.height)
