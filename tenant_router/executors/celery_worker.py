"""tenant-router's one Celery task, registered on the project's own Celery app.

Where the project makes its app (e.g. `proj/celery.py`)::

    app = Celery("proj")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    tenant_router.celery.install(app)

A worker started with that app (`celery -A proj.celery:app worker -Q tenant_router`) then carries out
the tasks of `tenant-router migrate --executor celery`: each message names one pre-flight batch or one
database (run id, ORM key, tenant id, alias, target); the worker finds the database in its own settings,
migrates it with the same assistants and run lock as a `--jobs` worker, and streams the events back to
the run's reply queue on the same broker. The task acknowledges late and is requeued when the worker
process executing it is lost, so another worker picks it up (the run lock keeps it from running twice
at once). Messages and replies carry no connection settings and no password.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections import OrderedDict
from typing import Any

from .celery_reply import Heartbeat, Reply

logger = logging.getLogger("tenant_router.celery")

TASK_NAME = "tenant_router.run_task"
_runs: OrderedDict[str, Any] = OrderedDict()  # run id -> Assistants bound for that run (the last two)


def install(app: Any, *, name: str = TASK_NAME) -> Any:
    """Register tenant-router's task on `app` (the project's Celery app) and return it."""
    if name in app.tasks:
        return app.tasks[name]
    return app.task(
        name=name,
        bind=True,
        acks_late=True,  # acknowledged once done: a lost worker's task goes back to the queue
        reject_on_worker_lost=True,  # ... right away when the process executing it dies
        ignore_result=True,  # the outcome travels on the run's reply queue, not the result backend
        track_started=False,
    )(run_task)


def run_task(self: Any, **message: Any) -> None:
    """Carry out one task of a run and stream its events to the run's reply queue."""
    from ..config.loader import ensure_django

    ensure_django()
    reply = Reply(self.app, message)
    if not reply.run_alive():  # a message left behind by a run that ended, exited at once, or was lost
        logger.warning(
            "tenant-router: run %s is over; its task %s was dropped", message["run"], self.request.id
        )
        return
    if reply.claim is not None and not reply.claim.take(lambda: reply.send("beat")):
        logger.warning(  # the broker handed out a task still running (past its visibility timeout)
            "tenant-router: task %s of run %s is carried out by another worker; this copy was dropped",
            self.request.id, message["run"],
        )  # fmt: skip
        return
    try:
        reply.send("started", worker=_hostname(self), pid=os.getpid())
    except Exception as exc:  # the broker went away just now: the run sends it again once it is back
        logger.warning(
            "tenant-router: cannot tell run %s its task started (%s); dropped", message["run"], exc
        )
        return
    _carry_out(reply, message, f"{_hostname(self)} pid {os.getpid()}")


def _carry_out(reply: Reply, message: dict[str, Any], worker: str) -> None:
    from ..record.captured import OutputCapture
    from ..record.events import TenantStarted
    from ..record.report import MigrationReport, one_line_error
    from ..safety import cancel
    from . import wire
    from .tasks import execute

    try:
        assistants, digests = _assistants(message)
    except Exception as exc:  # the worker's settings cannot be loaded: one line to the run, not a hang
        reply.send("refused", reason="settings", error=one_line_error(exc))
        return
    # "graphs": each ORM's schema digest (file contents, not migration names); the key keeps its old
    # name so that a worker of an older release, which compares it too, refuses the run.
    theirs = message.get("graphs") or {}
    for orm, digest in theirs.items():
        if digests.get(orm) != digest:
            reply.send("refused", reason="graph", orm=orm, ours=digests.get(orm), theirs=digest)
            return
    task = wire.decode_task(message["task"])
    cancel.reset()
    lease = reply.lease
    if lease is not None:  # before each database and at each boundary: is the run still alive?
        cancel.set_guard(lambda: not lease.alive())
    beat = Heartbeat(reply)
    beat.start()
    try:

        def send(event: Any) -> None:  # a database's start names this worker: its lane in the run's picture
            started = isinstance(event, TenantStarted)
            reply.event(wire.encode_event(dataclasses.replace(event, worker=worker) if started else event))

        report = MigrationReport(send)
        try:
            with OutputCapture(report.emit):  # what the task's code writes goes to the run
                verdicts = execute(task, assistants, report)
        except Exception as exc:  # a bug or a broken assistant: the run fails the task's databases
            reply.final("crashed", error=one_line_error(exc))
            return
        pending = [[wire.encode_key(key), wire.encode_verdict(v)] for key, v in verdicts]
        reply.final("done", pending=pending)
    finally:
        cancel.set_guard(None)
        beat.stop()
        assistants.close()


def _assistants(message: dict[str, Any]) -> tuple[Any, dict[str, str | None]]:
    """This worker's assistants for the message's run, bound as the run's were (built once per run)."""
    from ..config.loader import load_config
    from ..orm_backends.assistants import Assistants, AssistantSetup
    from ..record.report import MigrationReport

    run = message["run"]
    if run not in _runs:
        config = load_config()
        specs = config.orms(message["orms"])
        setup = AssistantSetup.from_dict(message["setup"])
        assistants = Assistants.for_run(config, specs, setup, MigrationReport(), None)
        for spec in specs:
            assistants.get(spec.key).prepare()
        digests = {spec.key: assistants.schema_digest(spec.key) for spec in specs}
        _runs[run] = (assistants, digests)
        while len(_runs) > 2:
            _runs.popitem(last=False)
    return _runs[run]


def _hostname(task: Any) -> str:
    return str(getattr(task.request, "hostname", None) or socket.gethostname())
