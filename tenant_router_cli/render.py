"""Reports and errors -> Rich tables, plain lines or JSON Lines."""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from tenant_router import (
    INTERRUPTED_LINE,
    REDACTOR,
    STATUS_WORDS,
    DatabaseState,
    FleetStatus,
    MigrationEvent,
    MigrationReport,
    OutputLogged,
    Status,
    TenantResult,
    TenantRouterError,
    database_label,
    event_to_dict,
    format_summary,
    mask_data,
    missing_line,
    next_steps,
    not_started_line,
    output_shown,
    printable,
    summary_counts,
    where_left,
)

from .exit_codes import exit_code_for
from .output import Output

STATUS_STYLES = {
    Status.MIGRATED: "green",
    Status.UP_TO_DATE: "cyan",
    Status.FAILED: "bold red",
    Status.SKIPPED: "dim",
    Status.NOT_STARTED: "yellow",
    Status.LOCKED: "magenta",
    Status.INTERRUPTED: "yellow",
    Status.BUSY: "bold yellow",
    Status.DRIFTED: "bold magenta",
    Status.MISSING: "bold red",
    Status.CREATED: "green",
    Status.UNKNOWN: "bold yellow",
}


def json_line(data: dict[str, Any]) -> str:
    """One compact JSON object, passwords masked in every string before it is encoded."""
    encoded = json.dumps(mask_data(json.loads(json.dumps(data, default=str))), separators=(",", ":"))
    return REDACTOR.stream(encoded)


class JsonProgress:
    """An on_event callback writing one JSON object per event to stdout."""

    def __init__(self, output: Output, verbosity: int = 1) -> None:
        self.output, self.verbosity = output, verbosity

    def __call__(self, event: MigrationEvent) -> None:
        """Write the event as a JSON line (output of migrations at the level -v/-q set)."""
        if not isinstance(event, OutputLogged) or output_shown(event, self.verbosity):
            self.output.raw(json_line(event_to_dict(event)))


def render_error(output: Output, exc: TenantRouterError, *, show_traceback: bool = False) -> None:
    """One line `error: ...` (and `hint: ...`) on stderr; the traceback only when asked for."""
    if show_traceback:
        output.error_block(REDACTOR("".join(traceback.format_exception(exc))).rstrip())
    output.error(REDACTOR(f"error: {exc.message}"))
    if exc.hint:
        output.error(REDACTOR(f"hint: {exc.hint}"))


def render_json_error(output: Output, exc: TenantRouterError, code: int) -> None:
    """The error as the last (only) JSON object on stdout, for scripts reading --json."""
    output.raw(json_line({"event": "error", "exit_code": code, "message": exc.message, "hint": exc.hint}))


@contextmanager
def exit_on_error(output: Output, *, json_output: bool, show_traceback: bool) -> Iterator[None]:
    """A TenantRouterError in the block becomes its one-line message (and JSON object) and exit code."""
    try:
        yield
    except TenantRouterError as exc:  # configuration and usage problems: nothing was touched
        code = exit_code_for(exc)
        render_error(output, exc, show_traceback=show_traceback)
        if json_output:
            render_json_error(output, exc, code)
        raise typer.Exit(code) from None


def render_summary(output: Output, report: MigrationReport, *, show_traceback: bool = False) -> None:
    """The end-of-run summary: a table on a terminal, plain lines elsewhere."""
    if show_traceback:
        for row in report.problems:
            if row.traceback:
                output.error(f"--- {row.orm} {row.label}")
                output.error_block(row.traceback.rstrip())
    if not output.live:
        for line in format_summary(report):
            output.line(line)
        return
    for renderable in summary_renderables(report):
        output.out.print(renderable)


def shorten_middle(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut in its middle (`pg-enterp…-03`): ids that share a long
    beginning stay apart."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…" if width == 1 else ""
    room = width - 1
    head, tail = "", ""
    for char in text:  # the beginning gets the larger half
        if cell_len(head + char) > room - room // 2:
            break
        head += char
    for char in reversed(text):
        if cell_len(head) + cell_len(char + tail) > room:
            break
        tail = char + tail
    return f"{head}…{tail}"


def fit_label(tenant: str | None, alias: str | None, width: int) -> str:
    """How people name a database (`tenant/alias`), in `width` cells: the tenant id is shortened in its
    middle and the alias kept; control characters escaped."""
    label = printable(database_label(tenant, alias))
    if cell_len(label) <= width or tenant is None or not alias:
        return shorten_middle(label, width)
    suffix = shorten_middle("/" + printable(alias), max(width // 2, 2))
    return shorten_middle(printable(tenant), width - cell_len(suffix)) + suffix


def cell(text: object, style: str = "") -> Text:
    """A user-supplied string as a table cell: no markup, no emoji, control characters escaped."""
    return Text(printable(REDACTOR(str(text))), style=style)


def summary_renderables(report: MigrationReport) -> list[RenderableType]:
    """The end-of-run summary on a terminal: one row per status (columns per ORM), then what did not complete."""
    orms = report.orms()
    counts = {orm: report.counts(orm) for orm in orms}
    title = Text(f"tenant-router: {len(report.results)} database(s) in {report.seconds:.2f}s", style="bold")
    table = Table()
    table.add_column("status")
    for orm in orms:
        table.add_column(cell(orm), justify="right")
    for status in Status:
        if any(counts[orm][str(status)] for orm in orms):
            style = STATUS_STYLES[status]
            table.add_row(
                Text(STATUS_WORDS[status], style=style), *(str(counts[orm][str(status)]) for orm in orms)
            )
    parts: list[RenderableType] = [title, table]
    problems = [r for r in report.problems if r.status is not Status.NOT_STARTED]
    if problems:
        parts.append(ProblemLines(problems))
    if line := not_started_line(report):
        parts.append(Text(line, style="yellow"))
    if line := missing_line(report):
        parts.append(Text(line, style="yellow"))
    if report.stop_reason and not report.interrupted:
        parts.append(Text.assemble(("Stopped early: ", "yellow"), cell(report.stop_reason)))
    if report.interrupted:
        parts.append(Text(INTERRUPTED_LINE, style="yellow"))
    parts.append(Text(f"Result: {summary_counts(report)}"))
    return parts


class ProblemLines:
    """What did not complete, one line per database at any width: ORM, database (shortened in its
    middle, the alias kept), status, then the step and error cut at the edge."""

    def __init__(self, rows: list[TenantResult]) -> None:
        self.rows = rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        yield Text(f"Not completed ({len(self.rows)}):", style="bold red")
        orm_width = max(cell_len(printable(r.orm)) for r in self.rows)
        words = [STATUS_WORDS[r.status] if r.status else "-" for r in self.rows]
        labels = [printable(r.label) for r in self.rows]
        label_width = min(max(cell_len(label) for label in labels), max(width // 3, 12))
        for row, word in zip(self.rows, words, strict=True):
            name = fit_label(row.tenant, row.alias, label_width)
            where = where_left(row).strip() or row.failed_step  # what the database holds, read again
            detail = ": ".join(x for x in (where, row.error) if x)
            line = Text.assemble(
                (printable(row.orm).ljust(orm_width), "bold"),
                "  ",
                name + " " * (label_width - cell_len(name)),
                "  ",
                (word.ljust(max(map(len, words))), STATUS_STYLES.get(row.status, "") if row.status else ""),
                "  ",
                printable(REDACTOR(detail)),
                no_wrap=True,
                overflow="ellipsis",
            )
            line.truncate(width, overflow="ellipsis")
            yield line


def render_report(
    output: Output, report: MigrationReport, *, json_output: bool, show_traceback: bool
) -> None:
    """The report as the last JSON line, or the summary."""
    if json_output:
        output.raw(json_line({"event": "report", **report.to_dict()}))
    else:
        render_summary(output, report, show_traceback=show_traceback)


def render_plan(output: Output, status: FleetStatus, *, json_output: bool, check: bool) -> None:
    """`migrate --plan` / `--check`: per ORM, each group of databases and the steps it would run."""
    if json_output:
        output.raw(json_line({"event": "plan", **status.to_dict()}))
        return
    for orm in status.orms:
        output.line(f"{orm}: {status.summary(orm)}")
        for group in status.groups(orm):
            if group.state == "pending":
                output.line(f"  {len(group.databases)} database(s) would apply: {', '.join(group.pending)}")
                if not check:
                    output.line(f"    {_labels(group.databases)}")
            elif group.state in ("missing", "unreachable", "unknown"):
                output.line(f"  {len(group.databases)} {group.state}: {_labels(group.databases)}")
    if check:
        output.line("pending: yes" if status.pending else "pending: no")


def render_status(output: Output, status: FleetStatus, *, json_output: bool, tenants: bool) -> None:
    """`tenant-router status`: one line per ORM, the databases of each group on request."""
    if json_output:
        output.raw(json_line({"event": "status", **status.to_dict()}))
        return
    for orm in status.orms:
        output.line(f"{orm}: {status.summary(orm)}")
        if tenants:
            for group in status.groups(orm):
                output.line(f"  {group.describe()}:")
                for db in group.databases:
                    extra = f"  {db.error}" if db.error else ""
                    if not extra and db.pending:  # what it runs next, not the last row of another app
                        extra = f"  {next_steps(db.pending)}"
                    elif not extra and db.current:
                        extra = f"  at {db.current}"
                    output.line(f"    {db.label}{extra}")


def _labels(databases: list[DatabaseState], limit: int = 10) -> str:
    names = [d.label for d in databases[:limit]]
    more = f" (+{len(databases) - limit} more)" if len(databases) > limit else ""
    return ", ".join(names) + more
