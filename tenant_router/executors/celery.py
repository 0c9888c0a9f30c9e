"""The Celery executor: the project's own Celery workers carry the run's tasks out, on any machines.

The run keeps the queue of tasks and sends a few at a time (as many as the workers can start, never more
databases of one server than --max-connections-per-host) on the queue the workers consume; each message
names its databases only (the worker's side: celery_worker.py; the app, broker and inspect:
celery_broker.py). Workers reply on a queue of the run's own on the same broker (events in order, a
heartbeat, the verdicts): it works with every broker Celery supports, keeps what a worker sent while the
run was busy, and needs no result backend. Workers read the run's lease (celery_lease.py) before each
database and boundary. A silent worker (LOST_AFTER) has its databases reported unknown; a broker gone is
waited for (BROKER_OUTAGE), then what the workers held is unknown. Workers on other code refuse the run."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import time
from collections.abc import Iterable
from typing import Any, cast

from ..config.environment import celery_broker_outage, celery_bundle, celery_lost_after
from ..errors import ExecutorError
from ..orm_backends.assistants import Assistants, AssistantSetup
from ..preflight import Verdict
from ..record.events import DONE_EVENTS, RUN_EVENTS, Status, WorkerLost
from ..record.keys import DbKey
from ..record.report import MigrationReport
from ..safety.cancel import stop_requested
from . import wire
from .celery_broker import Broker, BrokerLost, Outage, Probe, refusal_error
from .celery_flights import BUNDLE_MAX, Flight, bundle
from .celery_lease import run_keys
from .dispatch import Dispatch, fail_unfinished, interrupted
from .lost import ABORTED
from .tasks import Task

GRACE_SECONDS = 5.0  # after Ctrl-C, how long a revoked task may still turn out to have started
UNKNOWN = "where it stands is unknown: `tenant-router status` reads it, --only-failed settles it"


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
        self.lost_after, self.outage = celery_lost_after(), celery_broker_outage()
        self.run_id = secrets.token_hex(6)
        self.reply_name = f"tenant_router.reply.{self.run_id}"
        self.asked: set[int] = set()  # tasks asked to stop: their stop queues are deleted at the end
        try:  # first: the lease's first renewal gives the queue and its bindings their expiry at once
            self.replies = broker.connection.SimpleQueue(self.reply_name, no_ack=True, serializer="json")
        except Exception as exc:
            raise broker.error(exc) from exc
        self.lease = broker.lease(self.run_id, self.outage, lambda: run_keys(self.reply_name, self.asked))
        self.message = {
            "run": self.run_id,
            "reply": self.reply_name,
            "lease": self.lease.ttl if self.lease.client is not None else None,
            "outage": self.outage,
            "orms": assistants.orms(),
            "setup": setup.to_dict(),
            "graphs": {orm: assistants.schema_digest(orm) for orm in assistants.orms()},  # see celery_worker
        }
        self.flights: dict[int, Flight] = {}
        self.dispatch = Dispatch(max_per_host)  # the tasks of the current run() not sent yet
        stops_early = report.fail_fast or report.max_failures is not None  # then one database a task
        self.bundle_max = 1 if stops_early else celery_bundle(BUNDLE_MAX)
        self.window = 2  # tasks in the broker at once, until the workers say how many they run
        self.probe: Probe | None = broker.probe
        self.interrupted_at: float | None = None
        self.heard = time.monotonic()  # when a worker last said anything
        self.sent, self.down = 0, cast(Outage | None, None)  # tasks sent; the Outage while the broker is away

    def run(self, tasks: Iterable[Task]) -> list[tuple[DbKey, Verdict]]:
        """Send every task to the workers; return the verdicts of the inspect tasks."""
        self.dispatch.queue(tasks)
        pending: list[tuple[DbKey, Verdict]] = []
        if self.probe is None and self.dispatch.waiting:
            self.probe = Probe(self.broker.app, self.queue)
        while True:
            try:
                if self.down is not None:  # riding a broker outage out
                    if not self.flights and (self.report.stopping or not self.dispatch.waiting):
                        return pending
                    self._reconnect()
                    continue
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
            except BrokerLost as exc:
                self.down = self.down or Outage(exc, self.outage)
            except ExecutorError:
                self._abandon_all("the run was aborted")
                raise

    def _reconnect(self) -> None:
        """One more try at a broker that went away, after a back-off (Outage.wait raises after
        BROKER_OUTAGE s); then tasks it lost before a worker started them go to the front of the queue."""
        assert self.down is not None
        self.down.wait(self.broker.name)
        if not self.broker.reconnect():
            return
        try:
            replies = self.broker.connection.SimpleQueue(self.reply_name, no_ack=True, serializer="json")
        except Exception:  # answered, then went away again: tried after the next back-off
            return
        self.down, self.replies = None, replies
        self.lease.renew()
        now = self.heard = time.monotonic()
        for flight in self.flights.values():
            flight.beat = now  # heartbeats could not arrive meanwhile
        for flight in self.broker.not_held([f for f in self.flights.values() if f.started is None]):
            self._release(flight)
            self.dispatch.waiting.appendleft(flight.task)

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
            task = bundle(task, queue, self.bundle_max, self.window)
            self.sent += 1  # a task sent again (lost with the broker) gets a new id
            flight = Flight(task, f"tr-{self.run_id}-{task.id}-{self.sent}", time.monotonic())
            try:
                self.broker.send(flight.celery_id, {**self.message, "task": wire.encode_task(task)})
            except BrokerLost:  # not out: it waits again, and goes once the broker is back
                queue.appendleft(task)
                raise
            self.flights[task.id] = flight
            self.dispatch.sent(task)

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
        elif kind == "done":  # a database with no outcome had its report lost with the broker
            self._fail_unfinished(flight, f"its worker's report of it was lost; {UNKNOWN}", Status.UNKNOWN)
            own = flight.own  # the run's key objects, not the reply's copies
            return [
                (own.get(key, key), wire.decode_verdict(v))
                for key, v in ((wire.decode_key(k), v) for k, v in message["pending"])
            ]
        elif kind == "crashed":
            self._fail_unfinished(flight, f"worker error on {flight.worker}: {message.get('error')}")
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
                if not self.report.stopping and (unbegun := flight.unbegun()) is not None:
                    self.dispatch.waiting.appendleft(unbegun)  # a lost worker's bundle: to another
                self._ask_to_stop([flight])  # a worker that was only frozen stops at its next boundary
                lost = f"Celery worker {flight.worker} lost: {silent}; {UNKNOWN}"
                self._fail_unfinished(flight, lost, Status.UNKNOWN)
                self._revoke([flight])
            elif flight.started is None and self.interrupted_at and now - self.interrupted_at > GRACE_SECONDS:
                self._release(flight)

    def _release(self, flight: Flight) -> None:
        if self.flights.pop(flight.task.id, None) is not None:
            self.dispatch.done(flight.task)

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
                self._fail_unfinished(flight, ABORTED, Status.INTERRUPTED, begun_only=True)
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
            if self.broker.lost:  # a worker may have taken it, or gone on with it: nobody can tell here
                on = f" on {flight.worker}" if flight.worker else ""
                self._fail_unfinished(
                    flight, f"broker lost while its task was out{on}; {UNKNOWN}", Status.UNKNOWN
                )
            elif flight.started is not None:
                self._fail_unfinished(flight, f"{why} while it ran on {flight.worker}", begun_only=True)
            self._release(flight)

    def close(self) -> None:
        """Revoke what is left, end the lease, delete the run's queues and release the connection."""
        self._revoke(list(self.flights.values()))
        self.flights.clear()
        # "over" for the workers, and the run's queues gone (a worker may have gone before it read its
        # stop request); with the broker away, they expire on their own
        self.lease.end(delete=run_keys(self.reply_name, self.asked))
        if self.broker.lost:
            return
        with contextlib.suppress(Exception):
            self.replies.queue.delete()
        self.broker.delete_queues(f"{self.reply_name}.stop.{task_id}" for task_id in self.asked)
        with contextlib.suppress(Exception):
            self.replies.close()
        self.broker.close()
