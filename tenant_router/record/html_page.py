"""A picture of one run: a self-contained HTML page drawn from its journal (no network needed to open it).

The page embeds the run's timeline as JSON in <script type="application/json" id="run-data"> (every "<",
">" and "&" escaped, so no tenant id can close the element) and draws it with the inline script of
html_assets.py. The page of a run still going refreshes itself; `follow_run_page` rewrites it from the
journal until the run ends.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError
from .html_assets import SCRIPT, STYLE
from .timeline import Timeline, read_timeline

_STATES = {
    "finished": "finished",
    "interrupted": "interrupted (Ctrl-C / SIGTERM)",
    "stopped": "stopped early",
    "running": "still running: this page is rewritten from the journal",
    "killed": "ended without its closing line (killed?): bars without an end show no outcome recorded",
}


def embed_json(data: object) -> str:
    """`data` as JSON safe inside a <script> element: no "</script", "<!--" or "]]>" can appear."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render_page(timeline: Timeline, *, refresh: int | None = None) -> str:
    """The page's HTML text; `refresh` (seconds) makes the browser reload it."""
    run = html.escape(timeline.run)
    meta = f'<meta http-equiv="refresh" content="{int(refresh)}">\n' if refresh else ""
    state = html.escape(_STATES.get(timeline.state, timeline.state))
    when = html.escape(timeline.started or "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
{meta}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tenant-router run {run}</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>tenant-router run {run}</h1><div class="state">started {when} &middot; {state}</div></header>
<div id="summary"></div>
<main>
<section><h2>Timeline: one lane per worker, one bar per database</h2>
<div id="axis"></div>
<div id="timeline" data-rendered="0"></div>
<div id="legend"></div>
<noscript><p>This page draws its timeline with JavaScript.</p></noscript>
</section>
<aside>
<section><h2>Failures and no outcome (<span id="failure-count">0</span>)</h2><ol id="failures"></ol></section>
<section><h2>Slowest databases</h2><ol id="slowest"></ol></section>
</aside>
</main>
<script type="application/json" id="run-data">{embed_json(timeline.to_dict())}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""


def write_run_page(journal_path: Path | str, out_path: Path | str, *, refresh: int | None = None) -> Timeline:
    """Write the page of the run in `journal_path` to `out_path` (refreshing every `refresh` s while it runs)."""
    timeline = read_timeline(Path(journal_path))
    text = render_page(timeline, refresh=refresh if timeline.state == "running" else None)
    out, tmp = Path(out_path), None
    try:  # whole or not at all: a browser reloading the page never reads half of it
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise UsageError(f"Cannot write the page {str(out)!r}: {exc.strerror or exc}.") from exc
    return timeline


def follow_run_page(
    journal_path: Path | str,
    out_path: Path | str,
    refresh: int,
    on_write: Callable[[Timeline], None] = lambda timeline: None,
) -> Timeline:
    """Rewrite the page every `refresh` seconds while the run is going; the last write has no refresh."""
    while True:
        timeline = write_run_page(journal_path, out_path, refresh=refresh)
        on_write(timeline)
        if timeline.state != "running":
            return timeline
        time.sleep(refresh)
