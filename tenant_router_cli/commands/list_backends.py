"""`tenant-router list-backends`: what each ORM key resolves to."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from tenant_router import BackendInfo, describe_backends

from ..bootstrap import setup_django
from ..exit_codes import ExitCode
from ..options import Json, PythonPath, Settings, Traceback
from ..output import make_output
from ..render import cell, exit_on_error, json_line


def list_backends(
    settings: Settings = None,
    pythonpath: PythonPath = None,
    json_output: Json = False,
    show_traceback: Traceback = False,
) -> None:
    """Show each ORM key, its manager and assistant classes, aliases and number of tenants."""
    output = make_output(progress=False)
    with exit_on_error(output, json_output=json_output, show_traceback=show_traceback):
        setup_django(settings, pythonpath or ())
        infos = describe_backends()
    broken = any(i.error or not i.manager_imports or not i.assistant_imports for i in infos)
    if json_output:
        output.raw(json_line({"event": "backends", "backends": [i.to_dict() for i in infos]}))
    elif not output.out.is_terminal:
        for info in infos:
            for line in plain_lines(info):
                output.line(line)
    else:
        table = Table(title="tenant-router backends", show_lines=True)
        for col in (
            "ORM",
            "manager",
            "assistant",
            "template aliases",
            "reserved",
            "tenants",
            "details",
        ):
            table.add_column(col, overflow="fold")
        for i in infos:
            details = Text("\n").join(cell(f"{k}: {v}") for k, v in i.details.items())
            if i.error:
                details = Text("\n").join([*([details] if details else []), cell(f"error: {i.error}", "red")])
            table.add_row(
                Text.assemble(cell(i.orm)),
                Text.assemble(cell(i.manager), _broken(i.manager_imports)),
                Text.assemble(cell(i.assistant), _broken(i.assistant_imports)),
                cell(", ".join(i.template_aliases) or "-"), cell(", ".join(i.reserved_aliases) or "-"),
                "?" if i.tenants is None else str(i.tenants), details or "-",
            )  # fmt: skip
        output.out.print(table)
    raise typer.Exit(ExitCode.CONFIG if broken else ExitCode.OK)


def _broken(imports: bool) -> Text:
    return Text("") if imports else Text(" (does not import)", style="red")


def plain_lines(info: BackendInfo) -> list[str]:
    """One ORM as `key: value` lines, for logs and pipes."""

    def imports(ok: bool) -> str:
        return "" if ok else " (does not import)"

    lines = [
        f"{info.orm}:",
        f"  manager: {info.manager}{imports(info.manager_imports)}",
        f"  assistant: {info.assistant}{imports(info.assistant_imports)}",
        f"  template aliases: {', '.join(info.template_aliases) or '-'}",
        f"  reserved aliases: {', '.join(info.reserved_aliases) or '-'}",
        f"  tenants: {'?' if info.tenants is None else info.tenants}",
    ]
    lines += [f"  {key}: {value}" for key, value in info.details.items()]
    if info.error:
        lines.append(f"  error: {info.error}")
    return lines
