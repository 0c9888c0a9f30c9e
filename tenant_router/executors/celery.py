"""The Celery executor: the project's own Celery workers carry the run's tasks out, on any machines.

The run keeps the queue of tasks and sends a few at a time (as many as the workers can start, never more
databases of one server than --max-connections-per-host) on the queue the workers consume; each message
names its databases only (the worker's side: celery_worker.py; the app, broker and inspect:
celery_broker.py). Workers reply on a queue of the run's own on the same broker (events in order, a
heartbeat, the verdicts): it works with every broker Celery supports, keeps what a worker sent while the
run was busy, and needs no result backend. A worker silent for LOST_AFTER seconds has its databases
failed and its task revoked; workers on other code refuse the run; a broker that goes away ends it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..config.environment import celery_bundle, celery_lost_after
from ..errors import ExecutorError
from ..orm_backends.assistants import Assistants, AssistantSetup
from ..preflight import Verdict
from ..record.events import DONE_EVENTS, RUN_EVENTS, Status, WorkerLost
from ..record.keys import DbKey
from ..record.report import MigrationReport
from ..safety.cancel import stop_requested
from . import wire
from .celery_broker import Broker, Probe, refusal_error
from .dispatch import Dispatch, fail_unfinished, interrupted
from .tasks import Task

GRACE_SECONDS = 5.0  # after Ctrl-C, how long a revoked task may still turn out to have started
# Pending databases travel in bundles of up to TENANT_ROUTER_CELERY_BUNDLE databases of one server (a
# task costs ~5 ms to send plus a receive, an ack and two replies), never more than the queue divided
# by the tasks in flight (bundles shrink at the tail); one a task with --fail-fast or --max-failures,
# which stop after an exact count.
BUNDLE_MAX = 8


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
        self.broker, self.report, self.queue = broker, report, broker.queue
        self.lost_after = celery_lost_after()
        self.run_id = secrets.token_hex(6)
        self.reply_name = f"tenant_router.reply.{self.run_id}"
        self.message = {
            "run": self.run_id,
            "reply": self.reply_name,
            "orms": assistants.orms(),
            "setup": setup.to_dict(),
            "graphs": {orm: assistants.schema_digest(orm) for orm in assistants.orms()},  # see celery_worker
        }
        self.flights: dict[int, Flight] = {}
        self.dispatch = Dispatch(max_per_host)  # the tasks of the current run() not sent yet
        self.bundle_max = celery_bundle(BUNDLE_MAX)
        if report.fail_fast or report.max_failures is not None:
            self.bundle_max = 1
        self.window = 2  # tasks in the broker at once, until the workers say how many they run
        self.probe: Probe | None = broker.probe
        self.interrupted_at: float | None = None
        self.heard = time.monotonic()  # when a worker last said anything
        self.asked: set[int] = set()  # tasks asked to stop: their stop queues are deleted at the end
        try:
            self.replies = broker.connection.SimpleQueue(self.reply_name, no_ack=True, serializer="json")
        except Exception as exc:
            raise broker.error(exc) from exc

    def run(self, tasks: Iterable[Task]) -> list[tuple[DbKey, Verdict]]:
        """Send every task to the workers; return the verdicts of the inspect tasks."""
        self.dispatch.queue(tasks)
        pending: list[tuple[DbKey, Verdict]] = []
        if self.probe is None and self.dispatch.waiting:
            self.probe = Probe(self.broker.app, self.queue)
        while True:
            try:
                window = self.probe.window(self.broker) if self.probe is not None else None
                self.window = window or self.window
                self._send()
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

    def _send(self) -> None:
        queue = self.dispatch.waiting
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
            task = self.dispatch.next()
            if task is None:
                return
            task = self._bundle(task)
            flight = Flight(task, f"tr-{self.run_id}-{task.id}", time.monotonic())
            self.broker.send(flight.celery_id, {**self.message, "task": wire.encode_task(task)})
            self.flights[task.id] = flight
            self.dispatch.sent(task)

    def _bundle(self, task: Task) -> Task:
        """A migrate task with the next queued databases of its server, when the queue is long."""
        queue = self.dispatch.waiting
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
            raise self.broker.error(exc) from exc
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
            raise refusal_error(message, flight.worker)
        return []

    def _event(self, flight: Flight, data: dict[str, Any]) -> None:
        event = wire.decode_event(data)
        if isinstance(event, RUN_EVENTS):
            return
        key = DbKey(event.orm or "", event.tenant, event.alias)  # output of no database: no own key
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
            self.probe = Probe(self.broker.app, self.queue)  # no consumer left: exit 7, not a hang
            self.heard = now
        for flight in list(self.flights.values()):
            if flight.started is not None and now - flight.beat > self.lost_after:
                silent = f"no heartbeat for {now - flight.beat:.0f} s"
                self.report.emit(WorkerLost(str(flight.worker), silent))
                self._requeue_unbegun(flight)
                self._fail_unfinished(flight, f"Celery worker {flight.worker} lost: {silent} (the database "
                                      "is left at a migration boundary; re-run with --only-failed)")  # fmt: skip
                self._revoke([flight])
            elif flight.started is None and self.interrupted_at and now - self.interrupted_at > GRACE_SECONDS:
                self._release(flight)

    def _release(self, flight: Flight) -> None:
        if self.flights.pop(flight.task.id, None) is not None:
            self.dispatch.done(flight.task)

    def _requeue_unbegun(self, flight: Flight) -> None:
        """A lost worker's bundle: the databases it never began go to the front of the queue."""
        unbegun = tuple(k for k in flight.task.units if k not in flight.begun)
        if flight.task.kind == "migrate" and unbegun and not self.report.stopping:
            self.dispatch.waiting.appendleft(Task("migrate", unbegun, flight.task.host))
            flight.finished.update(unbegun)  # not this flight's to fail any more

    def _fail_unfinished(
        self, flight: Flight, error: str, status: Status = Status.FAILED, *, begun_only: bool = False
    ) -> None:
        if flight.task.kind == "migrate":
            units = [k for k in flight.task.units if not begun_only or k in flight.begun]
            fail_unfinished(self.report, units, flight.finished, error, status)
        self._release(flight)

    def _revoke(self, flights: list[Flight], *, kill: bool = False) -> None:
        self.broker.revoke([f.celery_id for f in flights], kill=kill)

    def _ask_to_stop(self, flights: list[Flight]) -> None:
        """Running tasks stop at their next migration boundary (their heartbeat reads this)."""
        if self.broker.lost:
            return
        self.asked.update(f.task.id for f in flights)
        self.broker.ask_to_stop(f"{self.reply_name}.stop.{f.task.id}" for f in flights)

    def _interrupted(self) -> None:
        """Ctrl-C: revoke what has not started, stop running ones at a boundary; the second one kills."""
        aborting = interrupted(self.report)
        self.dispatch.waiting.clear()
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

    def close(self) -> None:
        """Revoke what is left, delete the run's queues and release the connection."""
        self._revoke(list(self.flights.values()))
        self.flights.clear()
        if self.broker.lost:
            return  # the run's queues went with the broker (or are left behind: they expire with it)
        with contextlib.suppress(Exception):
            self.replies.queue.delete()
        # the worker may have gone before it read its stop request
        self.broker.delete_queues(f"{self.reply_name}.stop.{task_id}" for task_id in self.asked)
        with contextlib.suppress(Exception):
            self.replies.close()
        self.broker.close()
