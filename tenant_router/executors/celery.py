"""The Celery executor: the project's own Celery workers carry the run's tasks out, on any machines.

The run's process keeps the queue of tasks and sends a few at a time (as many as the workers can start,
and never more databases of one server than --max-connections-per-host) to the project's broker, on the
queue the workers consume (`tenant_router` by default). Each message names its databases only; see
`tenant_router/celery.py` for the worker's side. Workers reply on a queue of the run's own on the same
broker (`tenant_router.reply.<run id>`, deleted at the end): events in order, a heartbeat every few
seconds, and the task's verdicts. A reply queue on the broker the project already runs works with every
broker Celery supports, keeps what a worker sent while the run's process was busy (pub/sub would drop
it), and needs no result backend.

Failures are bounded in time: nobody consuming the queue or workers that do not know the task are found
by asking the workers (`inspect`) when the run starts; a worker that stops beating for LOST_AFTER seconds
has its databases failed (and its task revoked, so a redelivery is discarded); workers on other code
refuse the run (their migration graph's digest differs); a broker that goes away ends the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import itertools
import os
import re
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..config.environment import celery_app_path
from ..errors import ConfigurationError, ExecutorError, UsageError
from ..orm_backends.assistants import Assistants, AssistantSetup
from ..preflight import Verdict
from ..record.events import DONE_EVENTS, RunStarted, Status, TenantFailed
from ..record.keys import DbKey
from ..record.report import MigrationReport, one_line_error
from ..safety.cancel import request_stop, stop_requested
from ..safety.redact import mask_url
from . import wire
from .celery_worker import TASK_NAME
from .tasks import Task

PROBE_SECONDS = 2.0  # how long the workers have to answer `inspect` when the run starts
GRACE_SECONDS = 5.0  # after Ctrl-C, how long a revoked task may still turn out to have started
# Pending databases travel in bundles (a task costs the run ~5 ms to send and the worker a receive,
# an acknowledgement and two replies, which add up next to a small tenant's migration): up to
# TENANT_ROUTER_CELERY_BUNDLE (default 8; 1: one database a task) databases of one server, and never
# more than the queue divided by the tasks in flight, so bundles shrink at the tail and the workers
# finish together. Not with --fail-fast or --max-failures: a bundle's next database could start
# before the run heard of a failure elsewhere, and those stop after an exact count.
BUNDLE_MAX = 8


def _seconds(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds, got {os.environ[name]!r}.") from None


def _count(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"{name} must be a whole number, 1 or more, got {value!r}.")
    return int(value)


def load_app(path: str | None) -> Any:
    """The project's Celery app from "module:attribute" (--celery-app, else TENANT_ROUTER_CELERY_APP)."""
    where = "--celery-app"
    if path is None:
        path, where = celery_app_path(), "TENANT_ROUTER_CELERY_APP"
    if not path:
        raise UsageError(
            "--executor celery needs the project's Celery app.",
            hint="Pass --celery-app proj.celery:app, or set TENANT_ROUTER_CELERY_APP.",
        )
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = "pip install 'tenant-router[celery]'" if exc.name in ("celery", "kombu") else None
        raise ConfigurationError(f"{where} {path!r}: cannot import {module_name}: {exc}.", hint=hint) from exc
    app = getattr(module, attribute or "app", None)
    if app is None or not hasattr(app, "send_task"):
        raise ConfigurationError(
            f"{where} {path!r}: {module_name} has no Celery app named {attribute or 'app'!r}."
        )
    return app


class Broker:
    """The project's Celery app and a connection to its broker, opened when the run starts: a wrong
    --celery-app or an unreachable broker is one line before any database is touched, and the
    workers are asked who consumes the queue while the run migrates its reserved databases."""

    def __init__(self, app: str | None, queue: str) -> None:
        self.app, self.app_path, self.queue = load_app(app), app or celery_app_path(), queue
        self.connection = self.app.connection_for_write()
        # kombu shows a password as **; the host says which broker: no credentials at all
        self.name = re.sub(r"//[^@/]*@", "//", mask_url(self.connection.as_uri(include_password=False)))
        try:
            self.connection.ensure_connection(max_retries=2, interval_start=0.2, timeout=5)
        except Exception as exc:
            raise broker_error(self.name, exc) from exc
        self.probe = _Probe(self.app, queue)

    def close(self) -> None:
        """Release the connection (the executor's close does it when one was made)."""
        with contextlib.suppress(Exception):
            self.connection.release()


def broker_error(name: str, exc: BaseException) -> ExecutorError:
    """The one line for a broker that cannot be reached."""
    return ExecutorError(
        f"Celery broker {name} unreachable: {one_line_error(exc)}",
        hint="Check the broker (CELERY_BROKER_URL) is up and reachable from this host.",
    )


@dataclass(eq=False)
class Flight:
    """A task sent to the broker and not finished yet."""

    task: Task
    celery_id: str
    sent: float
    started: float | None = None
    worker: str | None = None
    beat: float = 0.0
    begun: set[DbKey] = field(default_factory=set)  # databases the worker said anything of
    finished: set[DbKey] = field(default_factory=set)

    @functools.cached_property
    def own(self) -> dict[DbKey, DbKey]:
        """The task's databases, by value, to the run's own key objects."""
        return {key: key for key in self.task.units}


class CeleryExecutor:
    """Sends the run's tasks to the project's Celery workers and folds their replies into the report."""

    def __init__(
        self,
        assistants: Assistants,
        report: MigrationReport,
        setup: AssistantSetup,
        *,
        broker: Broker,
        max_per_host: int | None = None,
    ) -> None:
        self.app, self.report, self.queue, self.max_per_host = broker.app, report, broker.queue, max_per_host
        self.app_path = broker.app_path
        self.lost_after = _seconds("TENANT_ROUTER_CELERY_LOST_AFTER", 30.0)
        self.run_id = secrets.token_hex(6)
        self.reply_name = f"tenant_router.reply.{self.run_id}"
        self.message = {
            "run": self.run_id,
            "reply": self.reply_name,
            "orms": assistants.orms(),
            "setup": setup.to_dict(),
            "graphs": {orm: assistants.get(orm).graph_fingerprint() for orm in assistants.orms()},
        }
        self.flights: dict[int, Flight] = {}
        self.waiting: deque[Task] = deque()  # tasks of the current run() not sent yet
        self.bundle_max = _count("TENANT_ROUTER_CELERY_BUNDLE", BUNDLE_MAX)
        if report.fail_fast or report.max_failures is not None:
            self.bundle_max = 1
        self.load: Counter[str | None] = Counter()
        self.window = 2  # tasks in the broker at once, until the workers say how many they run
        self.probe: _Probe | None = broker.probe
        self.interrupted_at: float | None = None
        self.heard = time.monotonic()  # when a worker last said anything
        self.broker_lost = False
        self.asked: set[int] = set()  # tasks asked to stop: their stop queues are deleted at the end
        self.connection, self.broker = broker.connection, broker.name
        try:
            self.replies = self.connection.SimpleQueue(self.reply_name, no_ack=True, serializer="json")
        except Exception as exc:
            raise self._broker_error(exc) from exc

    # -- the loop ------------------------------------------------------------------------------
    def run(self, tasks: Iterable[Task]) -> list[tuple[DbKey, Verdict]]:
        """Send every task to the workers; return the verdicts of the inspect tasks."""
        self.waiting = deque(tasks)
        pending: list[tuple[DbKey, Verdict]] = []
        if self.probe is None and self.waiting:
            self.probe = _Probe(self.app, self.queue)
        while True:
            try:
                self._check_probe()
                self._dispatch()
                if not self.flights:
                    return pending
                message = self._receive()
                if message is not None:
                    pending += self._handle(message)
                self._watch()
            except KeyboardInterrupt:
                self._interrupted()
            except ExecutorError:
                self._abandon_all("the run was aborted")
                raise

    def _dispatch(self) -> None:
        queue = self.waiting
        if self.report.stopping:
            interrupt = stop_requested() and self.interrupted_at is None  # the CLI's first Ctrl-C/SIGTERM
            if queue or interrupt:
                queue.clear()
                self._revoke([f for f in self.flights.values() if f.started is None])
            if interrupt:  # running tasks stop at a boundary; revoked ones are given up after a grace
                self.interrupted_at = time.monotonic()
                self._ask_to_stop([f for f in self.flights.values() if f.started is not None])
            return
        while queue and len(self.flights) < self.window:
            task = self._next()
            if task is None:
                return
            flight = Flight(task, f"tr-{self.run_id}-{task.id}", time.monotonic())
            message = {**self.message, "task": _task_message(task)}
            try:
                self.app.send_task(
                    TASK_NAME, kwargs=message, queue=self.queue, task_id=flight.celery_id, serializer="json"
                )
            except Exception as exc:
                raise self._broker_error(exc) from exc
            self.flights[task.id] = flight
            self.load[task.host] += 1

    def _next(self) -> Task | None:
        """The first queued task whose server is under the connection cap (across all workers), with
        the next queued databases of its server when it migrates one and the queue is long."""
        for index, task in enumerate(self.waiting):
            if self.max_per_host is None or task.host is None or self.load[task.host] < self.max_per_host:
                del self.waiting[index]
                return self._bundle(task)
        return None

    def _bundle(self, task: Task) -> Task:
        queue = self.waiting
        size = min(self.bundle_max, -(-(len(queue) + 1) // self.window))
        if task.kind != "migrate" or size < 2:
            return task
        taken = [t for t in itertools.islice(queue, 4 * size) if t.kind == "migrate" and t.host == task.host]
        taken = taken[: size - 1]
        for other in taken:
            queue.remove(other)
        units = task.units + tuple(k for t in taken for k in t.units)
        return Task("migrate", units, task.host, id=task.id)

    def _receive(self) -> dict[str, Any] | None:
        try:
            message = self.replies.get(block=True, timeout=0.5)
        except self.replies.Empty:
            return None
        except Exception as exc:
            raise self._broker_error(exc) from exc
        payload: dict[str, Any] = message.payload
        return payload

    def _handle(self, message: dict[str, Any]) -> list[tuple[DbKey, Verdict]]:
        flight = self.flights.get(message.get("task", -1))
        if flight is None:
            return []  # a task given up on, or redelivered after it finished
        kind, now = message.get("t"), time.monotonic()
        flight.beat = self.heard = now
        if kind == "started":
            flight.started, flight.worker = now, str(message.get("worker"))
        elif kind == "events":  # a batch, in the order the worker emitted them
            for data in message["es"]:
                self._event(flight, data)
        elif kind == "event":  # one event (workers of an earlier release)
            self._event(flight, message["e"])
        elif kind == "done":
            self._release(flight)
            own = flight.own  # the run's key objects, not the reply's copies
            return [
                (own.get(key, key), wire.decode_verdict(v))
                for key, v in ((wire.decode_key(k), v) for k, v in message["pending"])
            ]
        elif kind == "crashed":
            self._fail_unfinished(flight, f"worker error on {flight.worker}: {message.get('error')}")
            self._release(flight)
        elif kind == "refused":
            raise self._refusal(message, flight)
        return []

    def _event(self, flight: Flight, data: dict[str, Any]) -> None:
        event = wire.decode_event(data)
        if isinstance(event, RunStarted):
            return
        key = DbKey(event.orm, event.tenant, event.alias)
        own = flight.own.get(key)
        if own is None or key in flight.finished:
            return  # a redelivered task repeating a database already settled: reported once
        flight.begun.add(own)
        if own not in self.report.results:  # its row is made of this event: the run's own strings
            event = dataclasses.replace(event, orm=own.orm, tenant=own.tenant, alias=own.alias)
        if isinstance(event, DONE_EVENTS):
            flight.finished.add(key)
        self.report.emit(event)

    def _watch(self) -> None:
        """Give up on tasks whose worker stopped beating; after Ctrl-C, on revoked ones never started;
        when nothing has started for a while, ask the workers again whether anyone still consumes."""
        now = time.monotonic()
        quiet = now - max(self.heard, max((f.sent for f in self.flights.values()), default=0.0))
        idle = not any(f.started is not None for f in self.flights.values())
        if quiet > self.lost_after and idle and self.probe is not None and self.probe.checked:
            self.probe = _Probe(self.app, self.queue)  # no consumer left: exit 7, not a hang
            self.heard = now
        for flight in list(self.flights.values()):
            if flight.started is not None and now - flight.beat > self.lost_after:
                self._requeue_unbegun(flight)
                self._fail_unfinished(
                    flight,
                    f"Celery worker {flight.worker} lost: no heartbeat for {now - flight.beat:.0f} s "
                    "(the database is left at a migration boundary; re-run with --only-failed)",
                )
                self._revoke([flight])
            elif flight.started is None and self.interrupted_at and now - self.interrupted_at > GRACE_SECONDS:
                self._release(flight)

    def _check_probe(self) -> None:
        if self.probe is None or not self.probe.finished.is_set() or self.probe.checked:
            return
        self.probe.checked = True
        if self.probe.error is not None:
            raise self._broker_error(self.probe.error)
        start = f"celery -A {self.app_path or 'proj.celery:app'} worker -Q {self.queue}"
        if not self.probe.consumers:
            raise ExecutorError(
                f"No Celery worker consumes queue {self.queue!r} on {self.broker} "
                f"(none answered within {PROBE_SECONDS:g} s); nothing was sent to a tenant database.",
                hint=f"Start one: {start}",
            )
        if not self.probe.registered:
            raise ExecutorError(
                f"The Celery workers consuming {self.queue!r} ({', '.join(sorted(self.probe.consumers))}) "
                f"do not know the task {TASK_NAME}.",
                hint="Call tenant_router.celery.install(app) where the project makes its Celery app.",
            )
        self.window = max(self.probe.concurrency + len(self.probe.consumers), 1)

    # -- endings ---------------------------------------------------------------------------------
    def _release(self, flight: Flight) -> None:
        if self.flights.pop(flight.task.id, None) is not None:
            self.load[flight.task.host] -= 1

    def _requeue_unbegun(self, flight: Flight) -> None:
        """A lost worker's bundle: the databases it never began go to the front of the queue."""
        unbegun = tuple(k for k in flight.task.units if k not in flight.begun)
        if flight.task.kind == "migrate" and unbegun and not self.report.stopping:
            self.waiting.appendleft(Task("migrate", unbegun, flight.task.host))
            flight.finished.update(unbegun)  # not this flight's to fail any more

    def _fail_unfinished(
        self, flight: Flight, error: str, status: Status = Status.FAILED, *, begun_only: bool = False
    ) -> None:
        for key in flight.task.units:
            if key in flight.finished or (begun_only and key not in flight.begun):
                continue
            row = self.report.results.get(key)
            step = row.running_step if row else None
            if flight.task.kind == "migrate":
                self.report.emit(TenantFailed(*key, error, step, 0.0, None, status))
        self._release(flight)

    def _revoke(self, flights: list[Flight], *, kill: bool = False) -> None:
        if not flights or self.broker_lost:
            return
        with contextlib.suppress(Exception):  # best effort: an unreachable broker is reported elsewhere
            options = {"terminate": True, "signal": "SIGKILL"} if kill else {}
            self.app.control.revoke([f.celery_id for f in flights], **options)

    def _ask_to_stop(self, flights: list[Flight]) -> None:
        """Running tasks stop at their next migration boundary (their heartbeat reads this)."""
        if self.broker_lost:
            return
        with contextlib.suppress(Exception):
            channel = self.connection.default_channel
            producer = self.connection.Producer(channel)
            for flight in flights:
                self.asked.add(flight.task.id)
                name = f"{self.reply_name}.stop.{flight.task.id}"
                channel.queue_declare(queue=name, auto_delete=False)
                producer.publish("stop", exchange="", routing_key=name, serializer="json")

    def _interrupted(self) -> None:
        """Ctrl-C: revoke what has not started, stop running ones at a boundary; the second one kills."""
        aborting = stop_requested()
        request_stop()
        self.report.interrupted = True
        self.report.stop("interrupted")
        self.waiting.clear()
        if aborting:
            started = [f for f in self.flights.values() if f.started is not None]
            self._revoke(started, kill=True)
            for flight in started:  # a bundle's databases never begun are reported not started
                self._fail_unfinished(
                    flight, "aborted by a second interrupt", Status.INTERRUPTED, begun_only=True
                )
            for flight in list(self.flights.values()):
                self._release(flight)
            return
        self.interrupted_at = time.monotonic()
        self._revoke([f for f in self.flights.values() if f.started is None])
        self._ask_to_stop(list(self.flights.values()))

    def _abandon_all(self, why: str) -> None:
        flights = list(self.flights.values())
        self._revoke([f for f in flights if f.started is None])
        self._ask_to_stop([f for f in flights if f.started is not None])
        for flight in flights:
            if flight.started is not None:
                self._fail_unfinished(flight, f"{why} while it ran on {flight.worker}", begun_only=True)
            self._release(flight)

    def _refusal(self, message: dict[str, Any], flight: Flight) -> ExecutorError:
        worker = flight.worker or "a worker"
        if message.get("reason") == "graph":
            return ExecutorError(
                f"Celery worker {worker} runs other code: its {message.get('orm')} migration graph differs "
                f"from this run's (digest {message.get('ours')} there, {message.get('theirs')} here).",
                hint="Deploy the same release to the workers and to the host that runs tenant-router.",
            )
        return ExecutorError(f"Celery worker {worker} cannot load tenant-router: {message.get('error')}")

    def _broker_error(self, exc: BaseException) -> ExecutorError:
        self.broker_lost = True  # nothing more is sent: revoking or stopping would only wait for it
        return broker_error(self.broker, exc)

    def close(self) -> None:
        """Revoke what is left, delete the run's queues and release the connection."""
        flights = list(self.flights.values())
        self._revoke(flights)
        self.flights.clear()
        if self.broker_lost:
            return  # the run's queues went with the broker (or are left behind: they expire with it)
        with contextlib.suppress(Exception):
            self.replies.queue.delete()
            channel = self.connection.default_channel
            for task_id in self.asked:  # the worker may have gone before it read the request
                channel.queue_delete(f"{self.reply_name}.stop.{task_id}")
        with contextlib.suppress(Exception):
            self.replies.close()
        with contextlib.suppress(Exception):
            self.connection.release()


def _task_message(task: Task) -> dict[str, Any]:
    """Names only: the server a task's databases live on stays here (the cap is counted here)."""
    return {
        "id": task.id,
        "kind": task.kind,
        "units": [wire.encode_key(k) for k in task.units],
        "host": None,
        "settle": task.settle,
    }


class _Probe:
    """Asks the workers, in the background, who consumes the queue, whether they know the task, and
    how many tasks they run at once; the run does not wait for the answer to start sending."""

    def __init__(self, app: Any, queue: str) -> None:
        self.app, self.queue = app, queue
        self.consumers: set[str] = set()
        self.registered = False
        self.concurrency = 0
        self.error: BaseException | None = None
        self.checked = False
        self.finished = threading.Event()
        threading.Thread(target=self._ask, name="tenant-router-celery-probe", daemon=True).start()

    def _ask(self) -> None:
        try:
            inspect = self.app.control.inspect(timeout=PROBE_SECONDS)
            active = inspect.active_queues() or {}
            self.consumers = {
                w for w, queues in active.items() if any(q.get("name") == self.queue for q in queues)
            }
            if self.consumers:
                targeted = self.app.control.inspect(
                    destination=sorted(self.consumers), timeout=PROBE_SECONDS, limit=len(self.consumers)
                )
                known = targeted.registered() or {}
                self.registered = any(TASK_NAME in names for names in known.values())
                stats = targeted.stats() or {}
                self.concurrency = sum(
                    int((s.get("pool") or {}).get("max-concurrency") or 1) for s in stats.values()
                )
        except Exception as exc:
            self.error = exc
        finally:
            self.finished.set()
