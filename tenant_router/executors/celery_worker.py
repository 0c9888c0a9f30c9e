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

import contextlib
import dataclasses
import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from typing import Any

logger = logging.getLogger("tenant_router.celery")

TASK_NAME = "tenant_router.run_task"
HEARTBEAT_SECONDS = 2.0  # how often a running task says it is alive (and looks for a stop request)
# Events travel in batches ("events" messages): one broker message per event cost more than the
# migration itself on small tenants, and one per migration step still cost a third of a run from empty.
# A batch goes out when it is FLUSH_SECONDS old (checked on every event and, every TICK_SECONDS, by the
# heartbeat thread, so a long step's "started" reaches the run within FLUSH_SECONDS + TICK_SECONDS) or
# MAX_BATCH long, and before the task's verdicts. The price: a worker killed within that time of a
# step's start has its database reported failed without that step's name (the database itself is at
# a migration boundary either way, and --only-failed reads where it is).
FLUSH_SECONDS = 0.25
TICK_SECONDS = 0.1
MAX_BATCH = 200

_runs: OrderedDict[str, Any] = OrderedDict()  # run id -> Assistants bound for that run (the last two)
# One broker connection per worker process, for all its tasks (a connection per task cost ~9 ms each):
# (pid, connection, producer, lock); a forked child makes its own.
_link: tuple[int, Any, Any, threading.Lock] | None = None


def _shared_link(app: Any) -> tuple[int, Any, Any, threading.Lock]:
    global _link
    if _link is None or _link[0] != os.getpid():
        connection = app.connection_for_write()
        _link = (os.getpid(), connection, connection.Producer(serializer="json"), threading.Lock())
    return _link


def _drop_link() -> None:
    """Forget this process's connection (the broker went away): the next task opens a new one."""
    global _link
    if _link is not None and _link[0] == os.getpid():
        with contextlib.suppress(Exception):
            _link[1].release()
    _link = None


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
    reply = _Reply(self.app, message["reply"], message["task"]["id"])
    if not reply.run_alive():  # a message left behind by a run that ended (or exited at once)
        logger.warning(
            "tenant-router: run %s is over; its task %s was dropped", message["run"], self.request.id
        )
        return
    reply.send("started", worker=_hostname(self), pid=os.getpid())
    _carry_out(reply, message, f"{_hostname(self)} pid {os.getpid()}")


def _carry_out(reply: _Reply, message: dict[str, Any], worker: str) -> None:
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
    beat = _Heartbeat(reply)
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
            reply.flush()
            reply.send("crashed", error=one_line_error(exc))
            return
        reply.flush()
        pending = [[wire.encode_key(key), wire.encode_verdict(v)] for key, v in verdicts]
        reply.send("done", pending=pending)
    finally:
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


class _Reply:
    """The run's reply queue, as seen from one task: messages go out in order, one connection."""

    def __init__(self, app: Any, queue: str, task_id: int) -> None:
        self.queue, self.task_id = queue, task_id
        # the lock: the heartbeat thread sends too (and a threads pool's other tasks)
        _, self.connection, self.producer, self.lock = _shared_link(app)
        self.lost = False  # the broker went away: events are dropped, the task stops at a boundary
        self.app = app
        self.batch: list[dict[str, Any]] = []  # encoded events not sent yet, in order
        self.batch_since = 0.0

    def send(self, kind: str, **data: Any) -> None:
        """Publish one message to the run (anonymous exchange: the routing key is the queue)."""
        with self.lock:
            self._publish(kind, data)

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        from .wire import dumps

        body = dumps({"t": kind, "task": self.task_id, **data})
        options: dict[str, Any] = {
            "exchange": "",
            "routing_key": self.queue,
            "content_type": "application/json",
            "content_encoding": "utf-8",
        }
        try:  # the fast path: kombu's retry wrapper costs more than the publish itself
            self.producer.publish(body, **options)
        except Exception:
            try:
                self.producer.publish(
                    body, retry=True, retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
                    **options,
                )  # fmt: skip
            except Exception:
                _drop_link()
                raise

    def event(self, event: dict[str, Any]) -> None:
        """Queue one event; send the batch when it is old or long enough. When the
        broker is gone, stop at the next migration boundary instead of failing the migration in
        progress (nobody would hear of it, and MariaDB DDL is not undone)."""
        if self.lost:
            return
        with self.lock:
            if not self.batch:
                self.batch_since = time.monotonic()
            self.batch.append(event)
            due = len(self.batch) >= MAX_BATCH or time.monotonic() - self.batch_since >= FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self, older_than: float = 0.0) -> None:
        """Send the queued events as one message (only if the oldest is older_than seconds or more)."""
        if self.lost:
            return
        try:
            with self.lock:
                if not self.batch or time.monotonic() - self.batch_since < older_than:
                    return
                self._publish("events", {"es": self.batch})
                self.batch = []
        except Exception as exc:
            from ..safety import cancel

            self.lost = True
            cancel.request_stop()
            logger.warning("tenant-router: the run's broker is gone (%s); stopping at a boundary", exc)

    def run_alive(self) -> bool:
        """True while the run still listens: its reply queue exists (the run deletes it when it ends)."""
        channel = self.connection.default_channel
        prefix = getattr(channel, "keyprefix_queue", None)
        if prefix is not None and hasattr(channel, "conn_or_acquire"):  # Redis: the queue's binding key
            with channel.conn_or_acquire() as client:
                return bool(client.exists(prefix % self.queue))
        try:  # AMQP and the like: a passive declare fails for a queue that is gone
            channel.queue_declare(queue=self.queue, passive=True)
        except Exception as exc:
            return type(exc).__name__ != "NotFound"  # unsure (another transport): go ahead
        return True

    def stop_requested(self) -> bool:
        """True when the run asked this task to stop at the next migration boundary."""
        with self.lock:
            channel = self.connection.default_channel
            try:
                message = channel.basic_get(f"{self.queue}.stop.{self.task_id}", no_ack=True)
            except Exception:  # no such queue yet (nothing was asked)
                return False
            return message is not None


class _Heartbeat(threading.Thread):
    """Tells the run this task is alive; relays its stop request to the migration in progress; sends
    events that waited FLUSH_SECONDS (a long step or a slow pre-flight read emits nothing meanwhile)."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__(name="tenant-router-heartbeat", daemon=True)
        self.reply, self.done = reply, threading.Event()

    def run(self) -> None:
        from ..safety import cancel

        last_beat = time.monotonic()
        while not self.done.wait(TICK_SECONDS):
            with contextlib.suppress(Exception):
                self.reply.flush(older_than=FLUSH_SECONDS)
                if time.monotonic() - last_beat < HEARTBEAT_SECONDS:
                    continue
                last_beat = time.monotonic()
                self.reply.send("beat")
                if self.reply.stop_requested():
                    cancel.request_stop()

    def stop(self) -> None:
        """End the thread (the task is over)."""
        self.done.set()
        self.join(timeout=HEARTBEAT_SECONDS * 2)
